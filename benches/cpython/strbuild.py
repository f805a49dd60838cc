# String building: short strings made by concatenation and str(), grown
# piece by piece into lines, measured and indexed.
def build(rows, width):
    total = 0
    check = 0
    for r in range(rows):
        line = "row " + str(r) + ":"
        for c in range(width):
            line += " " + str(r * c % 1000)
        total += len(line)
        mid = line[len(line) // 2]
        if mid == " ":
            check += 1
    return [total, check]


result = build(20000, 40)
print(result[0], result[1])
