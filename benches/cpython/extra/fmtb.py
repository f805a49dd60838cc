# Strings built with format and taken apart with split.
# Written after the suite, to look for slow paths it misses.
lines = []
for i in range(100000):
    lines.append("{}-{}-{}".format(i, i * 1.5, "x"))
t = 0
for l in lines:
    t += len(l.split("-"))
print(t, len(lines))
