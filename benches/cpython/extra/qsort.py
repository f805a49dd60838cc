# A functional quicksort: a slice per call, pushes, and lists joined with +.
# Written after the suite, to look for slow paths it misses.
def qsort(xs):
    if len(xs) <= 1:
        return xs
    pivot = xs[0]
    less = []
    more = []
    for x in xs[1:]:
        if x < pivot:
            less.append(x)
        else:
            more.append(x)
    return qsort(less) + [pivot] + qsort(more)
xs = []
seed = 3
for i in range(60000):
    seed = (seed * 1103515245 + 12345) % 2147483648
    xs.append(seed % 1000000)
s = qsort(xs)
print(s[0], s[30000], s[59999])
