# Fannkuch-redux on 8 items: list copies by slicing, swaps and rotations by index.
# Written after the suite, to look for slow paths it misses.
def fannkuch(n):
    perm1 = list(range(n))
    count = [0] * n
    max_flips = 0
    checksum = 0
    sign = 1
    r = n
    perms = 0
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        perm = perm1[:]
        flips = 0
        k = perm[0]
        while k != 0:
            i = 0
            j = k
            while i < j:
                t = perm[i]; perm[i] = perm[j]; perm[j] = t
                i += 1; j -= 1
            flips += 1
            k = perm[0]
        if flips > max_flips:
            max_flips = flips
        checksum += sign * flips
        sign = -sign
        perms += 1
        while True:
            if r == n:
                return [checksum, max_flips, perms]
            p0 = perm1[0]
            i = 0
            while i < r:
                perm1[i] = perm1[i + 1]
                i += 1
            perm1[r] = p0
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
res = fannkuch(8)
print(res[0], res[1], res[2])
