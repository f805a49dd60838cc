# A list used as a work stack (push and pop of two-item lists), then slices of a list.
# Written after the suite, to look for slow paths it misses.
work = []
done = 0
for round in range(20):
    for i in range(20000):
        work.append([i, i % 7])
    while len(work) > 0:
        item = work.pop()
        if item[1] == 3:
            done += item[0]
s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 1000
acc = 0
for r in range(200):
    part = s[r:r + 5000]
    acc += len(part) + part[0]
print(done, acc)
