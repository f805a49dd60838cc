# Errors raised by a function and caught in a loop, one call in three.
# Written after the suite, to look for slow paths it misses.
def check(x):
    if x % 3 == 0:
        raise ValueError("bad " + str(x))
    return x
caught = 0
total = 0
for i in range(300000):
    try:
        total += check(i)
    except ValueError as e:
        caught += 1
print(caught, total)
