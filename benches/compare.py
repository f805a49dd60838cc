#!/usr/bin/env python3
"""Run every scenario in gilscope (default and cpython policies) and in
CPython, side by side in one go, and print each pair with its ratio.

    python3 benches/compare.py [--runs N] [--markdown] [--skip-lock] [--skip-suite]
                               [--skip-interpreters]

Each side runs `--runs` times (default 3), alternating; each figure is the
median over runs, with the min and max. It builds gilscope in release mode
first. Then it runs the interpreter benchmark suite (benches/side_by_side.py)
with the same number of runs and prints its table too, and the threads /
interpreters / processes scenario (gilscope bench interpreters beside
benches/cpython/interpreters.py). --markdown prints
the tables docs/performance.md holds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GILSCOPE = os.path.join(ROOT, "target", "release", "gilscope")

# (scenario, figure, unit, better, target for the default policy)
ROWS = [
    ("cycle", "ns_per_cycle", "ns", "lower", "≤ 15 ns and ≤ 1.5× parking_lot"),
    ("cycle", "ratio_to_parking_lot", "×", "lower", "≤ 1.5×"),
    ("convoy", "slowdown", "×", "lower", "≤ 3×"),
    ("convoy", "solo_calls_per_s", "calls/s", "higher", ""),
    ("convoy", "contended_calls_per_s", "calls/s", "higher", ""),
    ("convoy", "cpu_thread_share", "", "higher", "fair share (≈ 0.5)"),
    ("convoy", "slowdown_sleep0", "×", "lower", ""),
    ("spinner-lag", "mean_extra_delay_ms", "ms", "lower", "≤ 0.5 ms"),
    ("spinner-lag", "max_extra_delay_ms", "ms", "lower", ""),
    ("wake", "wake_median_us", "µs", "lower", "≤ 100 µs"),
    ("scaling", "speedup_released", "×", "higher", "≥ 1.95×"),
    ("scaling", "speedup_held", "×", "lower", "≤ 1.05×"),
    ("handoff", "one_way_us", "µs", "lower", "≤ 10 µs"),
    ("interp", "loop_s", "s", "lower", "≤ CPython"),
    ("interp", "fib30_s", "s", "lower", "≤ CPython"),
    ("ext", "speedup_released", "×", "higher", "≥ 1.9× (2 threads, 64 MiB)"),
    ("ext", "speedup_kept", "×", "lower", "≤ 1.05×"),
    ("ext", "call_ns", "ns", "lower", "≤ CPython zlib.crc32(b\"x\")"),
    ("ext", "loop_ns", "ns", "lower", ""),
]

# The threads / interpreters / processes scenario: (figure, unit, target).
# CPython 3.11 has no interpreters with a lock of their own, so its side of
# the interpreter rows is empty.
INTERPRETER_ROWS = [
    ("speedup_threads", "×", ""),
    ("speedup_interpreters", "×", "≥ 1.9× (on 2 free cores)"),
    ("speedup_processes", "×", ""),
    ("start_thread_us", "µs", ""),
    ("start_interpreter_us", "µs", ""),
    ("start_process_us", "µs", ""),
    ("round_trip_thread_us", "µs", ""),
    ("round_trip_interpreter_us", "µs", "≤ 2× round_trip_thread_us"),
    ("round_trip_process_us", "µs", "≥ 10× round_trip_interpreter_us"),
    ("round_trip_pipe_us", "µs", ""),
]


def json_lines(argv):
    out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return {d["scenario"]: d for d in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--skip-lock", action="store_true", help="only the interpreter suite")
    parser.add_argument("--skip-suite", action="store_true", help="only the lock scenarios")
    parser.add_argument("--skip-interpreters", action="store_true", help="no threads / interpreters / processes table")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not args.skip_lock:
        lock_table(args)
    if not args.skip_interpreters:
        print(flush=True)
        interpreters_table(args)
    if not args.skip_suite:
        suite = [sys.executable, os.path.join(ROOT, "benches", "side_by_side.py"), "--runs", str(args.runs)]
        if args.markdown:
            suite.append("--markdown")
        print(flush=True)
        subprocess.run(suite, cwd=ROOT, check=True)


def lock_table(args):
    """The lock scenarios in CPython and in gilscope under both policies."""
    # The extension scenario: examples/ext/ built with `gilscope ext build`.
    ext_dir = os.path.join(ROOT, "target", "release", "ext")
    os.makedirs(ext_dir, exist_ok=True)
    libs = []
    for name, lib in (("zlib", "-lz"), ("sha256", "-lcrypto")):
        out = os.path.join(ext_dir, name + ".so")
        subprocess.run([GILSCOPE, "ext", "build", os.path.join(ROOT, "examples", "ext", name + ".c"), "-o", out, lib],
                       cwd=ROOT, check=True, capture_output=True)
        libs.append(out)
    ext_toy = os.path.join(ROOT, "benches", "toy", "ext.toy")
    extra = {
        "cpython": [sys.executable, os.path.join(ROOT, "benches", "cpython", "ext.py"), "--json"],
        "fair": [GILSCOPE, "run", "--policy", "fair", ext_toy] + libs,
        "gil-cpython": [GILSCOPE, "run", "--policy", "cpython", ext_toy] + libs,
    }
    sides = {
        "cpython": [sys.executable, os.path.join(ROOT, "benches", "cpython", "scenarios.py"), "--json"],
        "fair": [GILSCOPE, "bench", "all", "--policy", "fair", "--json"],
        "gil-cpython": [GILSCOPE, "bench", "all", "--policy", "cpython", "--json"],
    }
    samples = {side: [] for side in sides}
    for run in range(args.runs):
        for side, argv in sides.items():
            print(f"run {run + 1}/{args.runs}: {side}", file=sys.stderr, flush=True)
            sample = json_lines(argv)
            sample.update(json_lines(extra[side]))
            samples[side].append(sample)

    def figure(side, scenario, key):
        values = [s[scenario][key] for s in samples[side] if scenario in s and key in s[scenario]]
        if not values:
            return None
        return statistics.median(values), min(values), max(values)

    def show(v, unit):
        if v is None:
            return "—"
        med, lo, hi = v
        fmt = (lambda x: f"{x:,.0f}") if abs(med) >= 1000 else (lambda x: f"{x:.3g}")
        return f"{fmt(med)} {unit} ({fmt(lo)}–{fmt(hi)})".replace("  ", " ")

    header = ["scenario", "figure", "CPython 3.11", "gilscope fair (default)", "gilscope cpython policy", "CPython / fair", "target"]
    rows = []
    for scenario, key, unit, better, target in ROWS:
        py, fair, gc = figure("cpython", scenario, key), figure("fair", scenario, key), figure("gil-cpython", scenario, key)
        ratio = ""
        if py and fair and fair[0] and py[0]:
            ratio = f"{py[0] / fair[0]:.2f}"
        rows.append([scenario, key, show(py, unit), show(fair, unit), show(gc, unit), ratio, target])
    print_table(header, rows, args.markdown)
    print(f"\nmedian (min–max) of {args.runs} runs per side; python {sys.version.split()[0]}; {os.cpu_count()} cores", file=sys.stderr)


def print_table(header, rows, markdown):
    """Print rows under header, as a Markdown table or aligned columns."""
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def interpreters_table(args):
    """Threads, interpreters and processes, in gilscope and CPython."""
    sides = {
        "cpython": [sys.executable, os.path.join(ROOT, "benches", "cpython", "interpreters.py"), "--json"],
        "gilscope": [GILSCOPE, "bench", "interpreters", "--json"],
    }
    samples = {side: [] for side in sides}
    for run in range(args.runs):
        for side, argv in sides.items():
            print(f"run {run + 1}/{args.runs}: interpreters, {side}", file=sys.stderr, flush=True)
            out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True).stdout
            samples[side].append(json.loads(out.strip().splitlines()[-1]))

    def show(side, key, unit):
        values = [s[key] for s in samples[side] if key in s]
        if not values:
            return "—"
        med = statistics.median(values)
        fmt = (lambda x: f"{x:,.0f}") if abs(med) >= 1000 else (lambda x: f"{x:.3g}")
        return f"{fmt(med)} {unit} ({fmt(min(values))}–{fmt(max(values))})"

    header = ["figure", "CPython 3.11", "gilscope", "target"]
    rows = [[key, show("cpython", key, unit), show("gilscope", key, unit), target] for key, unit, target in INTERPRETER_ROWS]
    print_table(header, rows, args.markdown)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmedian (min–max) of {args.runs} runs per side; load average {load:.1f} on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()
