# Three-component vectors as maps with string keys, built and read in small functions.
# Written after the suite, to look for slow paths it misses.
def vec(x, y, z):
    return {"x": x, "y": y, "z": z}
def add(a, b):
    return vec(a["x"] + b["x"], a["y"] + b["y"], a["z"] + b["z"])
def scale(a, k):
    return vec(a["x"] * k, a["y"] * k, a["z"] * k)
def dot(a, b):
    return a["x"] * b["x"] + a["y"] * b["y"] + a["z"] * b["z"]
acc = vec(0.0, 0.0, 0.0)
t = 0.0
for i in range(100000):
    v = vec(i * 0.5, i * 0.25, 1.0)
    acc = add(acc, scale(v, 0.001))
    t += dot(v, acc) * 0.000001
print(acc["x"], acc["y"], acc["z"], t)
