# The Mandelbrot set on a 200×150 grid: float arithmetic in a while loop with an and-condition.
# Written after the suite, to look for slow paths it misses.
def mandel(w, h, iters):
    inside = 0
    for py in range(h):
        y0 = py * 2.0 / h - 1.0
        for px in range(w):
            x0 = px * 3.0 / w - 2.0
            x = 0.0
            y = 0.0
            i = 0
            while i < iters and x * x + y * y <= 4.0:
                xt = x * x - y * y + x0
                y = 2.0 * x * y + y0
                x = xt
                i += 1
            if i == iters:
                inside += 1
    return inside
print(mandel(200, 150, 60))
