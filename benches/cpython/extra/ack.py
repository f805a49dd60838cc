# Ackermann's function: deep, narrow recursion.
# Written after the suite, to look for slow paths it misses.
import sys
sys.setrecursionlimit(100000)
def ack(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ack(m - 1, 1)
    return ack(m - 1, ack(m, n - 1))
t = 0
for k in range(10):
    t += ack(2, 300) + ack(3, 5)
print(t)
