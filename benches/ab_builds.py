#!/usr/bin/env python3
"""Compare the CPU time of two or more gilscope builds, runs alternating.

    python3 benches/ab_builds.py RUNS BIN_A,BIN_B[,BIN_C...] PROG...

PROG is a program name in benches/toy (set TOYDIR for another folder, such
as benches/toy/extra). Each round runs every build once on each program,
in turn, so all builds see the same load. Prints, per program, each
build's median and fastest CPU time (user + system, from os.wait4) and
its ratio to the first build's. Copy each binary to its own path first
(cp target/release/gilscope /tmp/before): a rebuild overwrites it.

CPU time is less disturbed by other jobs than wall time, and on a machine
without hardware counters it is how a change that callgrind counts as
fewer instructions is checked on the clock.
"""
import os
import statistics
import sys

runs = int(sys.argv[1]); bins = sys.argv[2].split(","); progs = sys.argv[3:]
toydir = os.environ.get("TOYDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy"))
def run(b, p):
    pid = os.fork()
    if pid == 0:
        fd = os.open("/dev/null", os.O_WRONLY); os.dup2(fd, 1)
        os.execv(b, [b, "run", f"{toydir}/{p}.toy"])
    _, status, ru = os.wait4(pid, 0)
    return ru.ru_utime + ru.ru_stime
for p in progs:
    res = {b: [] for b in bins}
    for i in range(runs):
        for b in bins: res[b].append(run(b, p))
    base = statistics.median(res[bins[0]]); bmin = min(res[bins[0]])
    print(f"{p:14}" + "  ".join(f"{b.split('/')[-1]}: med {statistics.median(res[b])*1000:6.1f} ({statistics.median(res[b])/base:.3f}) min {min(res[b])*1000:6.1f} ({min(res[b])/bmin:.3f})" for b in bins), flush=True)
