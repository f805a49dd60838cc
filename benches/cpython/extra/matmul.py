# Matrix product of two 120×120 lists of lists of floats, the naive triple loop.
# Written after the suite, to look for slow paths it misses.
def matrix(n, seed):
    m = []
    for i in range(n):
        row = []
        for j in range(n):
            row.append(float((i * 7 + j * 13 + seed) % 17) / 17.0)
        m.append(row)
    return m
def matmul(a, b, n):
    c = []
    for i in range(n):
        row = []
        ai = a[i]
        for j in range(n):
            s = 0.0
            for k in range(n):
                s += ai[k] * b[k][j]
            row.append(s)
        c.append(row)
    return c
n = 120
c = matmul(matrix(n, 1), matrix(n, 2), n)
print(c[5][7], c[n - 1][n - 1])
