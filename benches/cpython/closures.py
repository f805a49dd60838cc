# Closures and higher-order calls: adders made by a factory, composed,
# and applied by hand-written map and fold over a list.
def make_adder(n):
    return lambda x: x + n


def compose(f, g):
    return lambda x: f(g(x))


def map_list(f, items):
    out = []
    for x in items:
        out.append(f(x))
    return out


def fold(f, acc, items):
    for x in items:
        acc = f(acc, x)
    return acc


def run(rounds):
    items = []
    for i in range(1000):
        items.append(i)
    checksum = 0
    for r in range(rounds):
        step = compose(make_adder(r), make_adder(1))
        mapped = map_list(step, items)
        counter = 0

        def accumulate(acc, x):
            nonlocal counter
            counter += 1
            return (acc + x * 3) % 1000003

        total = fold(accumulate, 0, mapped)
        checksum = (checksum + total + counter) % 1000000007
    return checksum


print(run(1000))
