#!/usr/bin/env python3
"""Run gilscope's toy scripts and CPython's equivalents side by side.

Each pair runs alternately, RUNS times, in one go on the same machine, so
both sides see the same load. Prints the median, min and max wall time and
peak memory (whole process) of each side, the ratio of medians
(CPython / gilscope: above 1 means gilscope is faster) and, at the end, the
geometric mean of those ratios. Both sides of a pair must print the same
output (a checksum), or the run stops with an error.

    python3 benches/side_by_side.py [--runs N] [--set suite|extra|all] [--only NAME] [--json | --markdown]

The suite (the default set) is the eleven programs the targets are set
on. `--set extra` runs the programs in benches/toy/extra/ and
benches/cpython/extra/ instead: written after the suite, each in a style
the suite does not cover, to find slow paths it misses.

It builds gilscope in release mode first (cargo build --release).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GILSCOPE = os.path.join(ROOT, "target", "release", "gilscope")

# name: (toy script, Python script). Each pair is the same algorithm on the
# same data structures, and both print the same checksum.
PAIRS = {
    "loop": ("benches/toy/loop.toy", "benches/cpython/loop.py"),
    "fib30": ("benches/toy/fib.toy", "benches/cpython/fib.py"),
    "nbody": ("benches/toy/nbody.toy", "benches/cpython/nbody.py"),
    "spectral_norm": ("benches/toy/spectral_norm.toy", "benches/cpython/spectral_norm.py"),
    "sieve": ("benches/toy/sieve.toy", "benches/cpython/sieve.py"),
    "wordcount": ("benches/toy/wordcount.toy", "benches/cpython/wordcount.py"),
    "strbuild": ("benches/toy/strbuild.toy", "benches/cpython/strbuild.py"),
    "generators": ("benches/toy/generators.toy", "benches/cpython/generators.py"),
    "closures": ("benches/toy/closures.toy", "benches/cpython/closures.py"),
    "richards": ("benches/toy/richards.toy", "benches/cpython/richards.py"),
    "threads": ("benches/toy/threads.toy", "benches/cpython/threads.py"),
}

# The extra set: every benches/toy/extra/NAME.toy with its
# benches/cpython/extra/NAME.py, in name order.
EXTRA = {
    name[: -len(".toy")]: (f"benches/toy/extra/{name}", f"benches/cpython/extra/{name[: -len('.toy')]}.py")
    for name in sorted(os.listdir(os.path.join(ROOT, "benches", "toy", "extra")))
    if name.endswith(".toy")
}
SETS = {"suite": PAIRS, "extra": EXTRA, "all": {**PAIRS, **EXTRA}}


def peak_rss_mib(pid):
    """The process's own high-water RSS (VmHWM), or None once it is gone.

    rusage's ru_maxrss would include the RSS this Python process had when it
    forked the child, so both sides would look alike; VmHWM starts afresh at
    exec."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_once(argv):
    """Wall seconds, CPU seconds (user + system), peak RSS (MiB) and output
    of one run; a failed run or an empty output stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0.0
    while True:
        # Sample the high-water mark until the process is a zombie; the last
        # sample is its peak (a high-water mark only rises).
        sample = peak_rss_mib(proc.pid)
        if sample:
            peak = max(peak, sample)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed: {err}")
    if not out.strip():
        sys.exit(f"{argv} printed nothing; every benchmark prints a checksum")
    return elapsed, usage.ru_utime + usage.ru_stime, peak, out


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--set", choices=sorted(SETS), default="suite", help="which programs (default: the suite)")
    parser.add_argument("--only", choices=sorted(SETS["all"]))
    parser.add_argument("--json", action="store_true", help="one JSON object per pair")
    parser.add_argument("--markdown", action="store_true", help="the table docs/performance.md holds")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    results = []
    pairs = SETS["all"] if args.only else SETS[args.set]
    for name, (toy, py) in pairs.items():
        if args.only and name != args.only:
            continue
        toy_times, py_times, toy_cpu, py_cpu, toy_mem, py_mem = [], [], [], [], [], []
        outputs = set()
        for _ in range(args.runs):
            t, c, m, out = run_once([GILSCOPE, "run", toy])
            toy_times.append(t)
            toy_cpu.append(c)
            toy_mem.append(m)
            outputs.add(out)
            t, c, m, out = run_once([sys.executable, py])
            py_times.append(t)
            py_cpu.append(c)
            py_mem.append(m)
            outputs.add(out)
        if len(outputs) != 1:
            sys.exit(f"{name}: the two sides printed different results: {outputs}")
        result = {
            "scenario": name,
            "gilscope_s": summary(toy_times),
            "cpython_s": summary(py_times),
            # CPU time is less disturbed than wall time by other jobs on a
            # shared machine (but counts all of a program's threads).
            "gilscope_cpu_s": summary(toy_cpu),
            "cpython_cpu_s": summary(py_cpu),
            "gilscope_peak_mib": max(toy_mem),
            "cpython_peak_mib": max(py_mem),
            "speedup": statistics.median(py_times) / statistics.median(toy_times),
            "runs": args.runs,
        }
        results.append(result)
    geomean = math.exp(statistics.fmean(math.log(r["speedup"]) for r in results)) if results else None
    if args.json:
        for r in results:
            print(json.dumps(r))
        print(json.dumps({"scenario": "geometric_mean", "speedup": geomean, "pairs": len(results)}))
        return
    if args.markdown:
        print("| program | gilscope median (min–max) | CPython 3.11 median (min–max) | CPython / gilscope | CPU s gilscope / CPython | peak MiB gilscope / CPython |")
        print("|---|---|---|---|---|---|")
        for r in results:
            g, p = r["gilscope_s"], r["cpython_s"]
            print(
                f"| {r['scenario']} | {g['median']:.3f} s ({g['min']:.3f}–{g['max']:.3f}) "
                f"| {p['median']:.3f} s ({p['min']:.3f}–{p['max']:.3f}) | {r['speedup']:.2f}× "
                f"| {r['gilscope_cpu_s']['median']:.3f} / {r['cpython_cpu_s']['median']:.3f} "
                f"| {r['gilscope_peak_mib']:.1f} / {r['cpython_peak_mib']:.1f} |"
            )
        print(f"| **geometric mean** | | | **{geomean:.2f}×** | | |")
        return
    print(f"python: {sys.version.split()[0]}   runs per side: {args.runs}   cores: {os.cpu_count()}")
    print(
        f"{'program':14} {'gilscope median (min-max)':27} {'CPython median (min-max)':27} "
        f"{'CPython/gilscope':>16} {'peak MiB g / py':>16}"
    )
    for r in results:
        g, p = r["gilscope_s"], r["cpython_s"]
        print(
            f"{r['scenario']:14} {g['median']:.3f} s ({g['min']:.3f}-{g['max']:.3f})     "
            f"{p['median']:.3f} s ({p['min']:.3f}-{p['max']:.3f})     {r['speedup']:>12.2f}x"
            f"     {r['gilscope_peak_mib']:6.1f} / {r['cpython_peak_mib']:5.1f}"
        )
    print(f"geometric mean of CPython/gilscope over {len(results)} programs: {geomean:.2f}x")


if __name__ == "__main__":
    main()
