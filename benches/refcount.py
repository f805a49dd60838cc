#!/usr/bin/env python3
"""What atomic reference counts would cost: gilscope built normally (plain
counts, safe because of the lock) against gilscope built with
--features atomic-refcount (atomic counts), everything else equal.

    python3 benches/refcount.py [--runs N] [--markdown]

Builds both (the atomic one in target/atomic-refcount), then runs each
benchmark RUNS times per build, alternating; prints medians (min-max) and the
ratio atomic / plain.
"""
import argparse
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = {
    "plain": os.path.join(ROOT, "target", "release", "gilscope"),
    "atomic": os.path.join(ROOT, "target", "atomic-refcount", "release", "gilscope"),
}
SCRIPTS = ["benches/toy/loop.toy", "benches/toy/fib.toy", "benches/toy/objects.toy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--features", "atomic-refcount",
         "--target-dir", os.path.join(ROOT, "target", "atomic-refcount")],
        cwd=ROOT, check=True)
    times = {(b, s): [] for b in BUILDS for s in SCRIPTS}
    for _ in range(args.runs):
        for script in SCRIPTS:
            for build, exe in BUILDS.items():
                start = time.perf_counter()
                subprocess.run([exe, "run", script], cwd=ROOT, check=True, capture_output=True)
                times[(build, script)].append(time.perf_counter() - start)
    rows = []
    for script in SCRIPTS:
        plain, atomic = times[("plain", script)], times[("atomic", script)]
        fmt = lambda xs: f"{statistics.median(xs):.3f} s ({min(xs):.3f}–{max(xs):.3f})"
        rows.append((os.path.basename(script), fmt(plain), fmt(atomic), statistics.median(atomic) / statistics.median(plain)))
    if args.markdown:
        print("| benchmark | plain counts (default) | atomic counts | atomic / plain |")
        print("|---|---|---|---|")
        for name, p, a, r in rows:
            print(f"| `{name}` | {p} | {a} | {r:.2f} × |")
    else:
        for name, p, a, r in rows:
            print(f"{name:14} plain {p}   atomic {a}   atomic/plain {r:.2f}x")


if __name__ == "__main__":
    main()
