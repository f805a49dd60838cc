# Sieve of Eratosthenes over a 2-million-element list of booleans: list
# building with append, then indexed reads and writes.
def sieve(n):
    flags = []
    for i in range(n):
        flags.append(True)
    flags[0] = False
    flags[1] = False
    i = 2
    while i * i < n:
        if flags[i]:
            j = i * i
            while j < n:
                flags[j] = False
                j += i
        i += 1
    count = 0
    last = 0
    for k in range(n):
        if flags[k]:
            count += 1
            last = k
    return [count, last]


result = sieve(2000000)
print(result[0], result[1])
