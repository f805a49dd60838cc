# 10 million iterations of a read-modify-write on a module-level variable.
total = 0
for i in range(10000000):
    total = total + i
print(total)
