#!/usr/bin/env python3
"""Run gilscope's toy scripts and CPython's equivalents side by side.

Each pair runs alternately, RUNS times, in one go on the same machine, so
both sides see the same load. Prints the median, min and max wall time and
peak memory (whole process) of each side, and the ratio of medians
(CPython / gilscope: above 1 means gilscope is faster).

    python3 benches/side_by_side.py [--runs N] [--only NAME] [--json]

It builds gilscope in release mode first (cargo build --release).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GILSCOPE = os.path.join(ROOT, "target", "release", "gilscope")

PAIRS = {
    "loop": ("benches/toy/loop.toy", "benches/cpython/loop.py"),
    "fib30": ("benches/toy/fib.toy", "benches/cpython/fib.py"),
}


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
    """Wall seconds and peak RSS (MiB) of one run, output checked."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0.0
    while True:
        # Sample the high-water mark until the process is a zombie; the last
        # sample is its peak (a high-water mark only rises).
        sample = peak_rss_mib(proc.pid)
        if sample:
            peak = max(peak, sample)
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
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
    return elapsed, peak, out


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", choices=sorted(PAIRS))
    parser.add_argument("--json", action="store_true", help="one JSON object per pair")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    results = []
    for name, (toy, py) in PAIRS.items():
        if args.only and name != args.only:
            continue
        toy_times, py_times, toy_mem, py_mem = [], [], [], []
        outputs = set()
        for _ in range(args.runs):
            t, m, out = run_once([GILSCOPE, "run", toy])
            toy_times.append(t)
            toy_mem.append(m)
            outputs.add(out)
            t, m, out = run_once([sys.executable, py])
            py_times.append(t)
            py_mem.append(m)
            outputs.add(out)
        if len(outputs) != 1:
            sys.exit(f"{name}: the two sides printed different results: {outputs}")
        result = {
            "scenario": name,
            "gilscope_s": summary(toy_times),
            "cpython_s": summary(py_times),
            "gilscope_peak_mib": max(toy_mem),
            "cpython_peak_mib": max(py_mem),
            "speedup": statistics.median(py_times) / statistics.median(toy_times),
            "runs": args.runs,
        }
        results.append(result)
    if args.json:
        for r in results:
            print(json.dumps(r))
        return
    print(f"python: {sys.version.split()[0]}   runs per side: {args.runs}")
    print(f"{'scenario':10} {'gilscope median (min-max)':28} {'CPython median (min-max)':28} {'CPython/gilscope':>16} {'peak MiB g / py':>16}")
    for r in results:
        g, p = r["gilscope_s"], r["cpython_s"]
        print(
            f"{r['scenario']:10} {g['median']:.3f} s ({g['min']:.3f}-{g['max']:.3f})      "
            f"{p['median']:.3f} s ({p['min']:.3f}-{p['max']:.3f})      {r['speedup']:>10.2f}x"
            f"      {r['gilscope_peak_mib']:5.1f} / {r['cpython_peak_mib']:5.1f}"
        )


if __name__ == "__main__":
    main()
