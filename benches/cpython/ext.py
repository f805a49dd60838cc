"""Two threads compressing and hashing 64 MiB with zlib.compress and
hashlib.sha256 (both release the GIL: zlib around deflate, hashlib for
inputs of 2048 bytes or more), and the cost of zlib.crc32(b"x").

    python3 benches/cpython/ext.py [--json]

The same work as benches/toy/ext.toy in gilscope.
"""
import hashlib
import json
import sys
import threading
import time
import zlib

# 1 MiB of hex digests (a hash chain), as in ext.toy.
parts = []
d = hashlib.sha256(b"gilscope").hexdigest()
for _ in range(16384):
    parts.append(d)
    d = hashlib.sha256(d.encode()).hexdigest()
data = "".join(parts).encode()
CHUNKS = 64


def work(n):
    for _ in range(n):
        zlib.compress(data, 6)
        hashlib.sha256(data).digest()


def one():
    start = time.perf_counter()
    work(CHUNKS)
    return time.perf_counter() - start


def two():
    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(CHUNKS // 2,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


one_s = one()
two_s = two()

CALLS = 1_000_000
x = b"x"
crc32 = zlib.crc32
start = time.perf_counter()
for _ in range(CALLS):
    crc32(x)
call_ns = (time.perf_counter() - start) * 1e9 / CALLS
start = time.perf_counter()
for _ in range(CALLS):
    x
loop_ns = (time.perf_counter() - start) * 1e9 / CALLS

result = {
    "scenario": "ext",
    "mib": 64,
    "one_released_s": one_s,
    "two_released_s": two_s,
    "speedup_released": one_s / two_s,
    "call_ns": call_ns,
    "loop_ns": loop_ns,
}
if "--json" in sys.argv:
    print(json.dumps(result))
else:
    for key, value in result.items():
        print(f"{key:>18}: {value}")
