# Sorting 200,000 integers, by value and with a key function.
# Written after the suite, to look for slow paths it misses.
xs = []
seed = 7
for i in range(200000):
    seed = (seed * 1103515245 + 12345) % 2147483648
    xs.append(seed % 100000)
a = sorted(xs)
b = sorted(xs, key=lambda x: -x)
print(a[0], a[len(a) - 1], b[0], sum(a) % 1000)
