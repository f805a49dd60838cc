# Integers turned into strings and back, strings joined with +.
# Written after the suite, to look for slow paths it misses.
n = 0
for i in range(300000):
    s = str(i) + ":" + str(i * 2)
    n += len(s) + int(str(i % 1000))
print(n)
