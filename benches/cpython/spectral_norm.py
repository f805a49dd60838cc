# Spectral norm of the infinite matrix A (after pyperformance's
# bm_spectral_norm): ten power iterations of A^T A on a float vector.
def eval_a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def times(v, transposed):
    n = len(v)
    out = []
    for i in range(n):
        total = 0.0
        for j in range(n):
            if transposed:
                total += eval_a(j, i) * v[j]
            else:
                total += eval_a(i, j) * v[j]
        out.append(total)
    return out


def times_transposed(v):
    return times(times(v, False), True)


def sqrt(x):
    g = (x + 1.0) / 2.0
    for k in range(30):
        g = (g + x / g) / 2.0
    return g


n = 200
u = []
for i in range(n):
    u.append(1.0)
v = None
for step in range(10):
    v = times_transposed(u)
    u = times_transposed(v)
vbv = 0.0
vv = 0.0
for i in range(n):
    vbv += u[i] * v[i]
    vv += v[i] * v[i]
print(sqrt(vbv / vv))
