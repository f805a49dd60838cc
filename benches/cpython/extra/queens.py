# Counting the solutions of 10 queens by backtracking: a list used as a stack, recursion, boolean tests.
# Written after the suite, to look for slow paths it misses.
def ok(cols, row, col):
    r = 0
    for c in cols:
        if c == col or c - col == row - r or col - c == row - r:
            return False
        r += 1
    return True
def solve(n, cols):
    row = len(cols)
    if row == n:
        return 1
    count = 0
    for col in range(n):
        if ok(cols, row, col):
            cols.append(col)
            count += solve(n, cols)
            cols.pop()
    return count
print(solve(10, []))
