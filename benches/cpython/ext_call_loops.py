"""One loop of N iterations, for counting instructions per C call with
callgrind: run it for N = 100,000 and 200,000 and divide the difference by
100,000. The same loops as benches/toy/ext_call_loops.toy.

    valgrind --tool=callgrind python3 benches/cpython/ext_call_loops.py 100000 bound

LOOP: bound (f(x) with f = zlib.crc32), attr (zlib.crc32(x)), len (g(x)
with g = len) or bare (x).
"""
import sys
import zlib


def run(n, loop):
    x = b"x"
    z = zlib
    if loop == "bound":
        f = z.crc32
        for i in range(n):
            f(x)
    elif loop == "attr":
        for i in range(n):
            z.crc32(x)
    elif loop == "len":
        g = len
        for i in range(n):
            g(x)
    elif loop == "bare":
        for i in range(n):
            x
    else:
        sys.exit(f"unknown loop {loop}: bound, attr, len or bare")


run(int(sys.argv[1]), sys.argv[2])
