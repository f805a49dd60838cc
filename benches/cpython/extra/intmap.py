# A map with integer keys filled and walked, and a list of two-item lists walked.
# Written after the suite, to look for slow paths it misses.
m = {}
for i in range(300000):
    m[i * 7 % 100003] = i
t = 0
for k in m:
    t = (t + m[k] * k) % 1000000007
l = []
for i in range(100000):
    l.append([i, i * 2])
s = 0
for p in l:
    s += p[0] + p[1]
print(t, s, len(l[10:500]))
