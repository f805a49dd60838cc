# Text split into words, counted in a map, the distinct words sorted and joined; ten rounds.
# Written after the suite, to look for slow paths it misses.
parts = []
for i in range(20000):
    parts.append("w{} x{} yy{}".format(i % 97, i % 13, i % 7))
text = " ".join(parts)
total = 0
for round in range(10):
    ws = text.split()
    seen = {}
    for w in ws:
        if w in seen:
            seen[w] += 1
        else:
            seen[w] = 1
    ks = sorted(seen.keys())
    total += len(ks) + len(",".join(ks))
print(total)
