# A generator pipeline (after pyperformance's bm_generators): numbers
# flow through three generator stages into a consumer loop.
def numbers(n):
    i = 0
    while i < n:
        yield i
        i += 1


def odd_only(source):
    for x in source:
        if x % 2 == 1:
            yield x


def scaled(source, factor):
    for x in source:
        yield x * factor % 1000003


def running_total(source):
    total = 0
    for x in source:
        total += x
        yield total


last = 0
count = 0
for t in running_total(scaled(odd_only(numbers(1000000)), 7)):
    last = t
    count += 1
print(count, last)
