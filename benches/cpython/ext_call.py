"""What one call of a C function with one small argument costs in CPython:
zlib.crc32(x) on one byte, against the same loop calling the built-in len,
best of five rounds of a million calls each. The same loop as
benches/toy/ext_call.toy in gilscope.

    python3 benches/cpython/ext_call.py
"""
import time
import zlib

x = b"x"
f = zlib.crc32
g = len
n = 1_000_000
best_call = best_len = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    for i in range(n):
        f(x)
    t1 = time.perf_counter()
    for i in range(n):
        g(x)
    t2 = time.perf_counter()
    best_call = min(best_call, t1 - t0)
    best_len = min(best_len, t2 - t1)
per = 1e9 / n
print(
    f"crc32 {int(best_call * per)} ns, len {int(best_len * per)} ns, "
    f"the call adds {int((best_call - best_len) * per)} ns"
)
