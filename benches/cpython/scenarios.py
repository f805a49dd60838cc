#!/usr/bin/env python3
"""The scenarios of `gilscope bench`, run in CPython.

    python3 benches/cpython/scenarios.py [SCENARIO ...] [--json]

Scenarios: cycle, convoy, spinner-lag, wake, scaling, handoff, interp.
Each prints one line (one JSON object with --json) with the same figure
names as `gilscope bench --json`. C work comes from cwork.c, compiled here
and loaded twice: ctypes.CDLL releases the GIL around every call,
ctypes.PyDLL keeps it.
"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_c():
    out = os.path.join(tempfile.mkdtemp(prefix="gilscope-bench-"), "cwork.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out, os.path.join(HERE, "cwork.c")], check=True)
    released, held = ctypes.CDLL(out), ctypes.PyDLL(out)
    for lib in (released, held):
        lib.count_primes.argtypes = [ctypes.c_int64]
        lib.count_primes.restype = ctypes.c_int64
        lib.busy_ms.argtypes = [ctypes.c_int]
    return released, held


RELEASED, HELD = load_c()


def cycle():
    """GIL release + re-take around one C call: CDLL's call minus PyDLL's."""
    n = 1_000_000

    def per_call(fn):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1e9

    released = statistics.median(per_call(RELEASED.noop) for _ in range(5))
    held = statistics.median(per_call(HELD.noop) for _ in range(5))
    return {"ns_per_cycle": released - held, "cdll_call_ns": released, "pydll_call_ns": held}


def burn(stop):
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            n += 1
    return n


def calls_for(seconds, fn):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        for _ in range(1000):
            fn()
        n += 1000
    return n / seconds


def convoy():
    """Short GIL-releasing C calls, alone and beside a CPU-bound thread."""
    seconds = 1.0
    solo = calls_for(seconds, RELEASED.noop)
    solo_sleep0 = calls_for(seconds, lambda: time.sleep(0))
    stop = threading.Event()
    t = threading.Thread(target=burn, args=(stop,))
    t.start()
    time.sleep(0.05)
    contended = calls_for(seconds, RELEASED.noop)
    stop.set()
    t.join()
    stop = threading.Event()
    t = threading.Thread(target=burn, args=(stop,))
    t.start()
    time.sleep(0.05)
    contended_sleep0 = calls_for(seconds, lambda: time.sleep(0))
    stop.set()
    t.join()
    return {
        "solo_calls_per_s": solo,
        "contended_calls_per_s": contended,
        "slowdown": solo / max(contended, 1.0),
        "slowdown_sleep0": solo_sleep0 / max(contended_sleep0, 1.0),
    }


def spinner_lag():
    """A spinner sleeping 10 ms per frame beside a CPU-bound thread."""
    stop = threading.Event()
    t = threading.Thread(target=burn, args=(stop,))
    t.start()
    time.sleep(0.02)
    extra = []
    for _ in range(100):
        start = time.perf_counter()
        time.sleep(0.010)
        extra.append(max(0.0, (time.perf_counter() - start) * 1000 - 10.0))
    stop.set()
    t.join()
    return {
        "mean_extra_delay_ms": sum(extra) / len(extra),
        "max_extra_delay_ms": max(extra),
        "median_extra_delay_ms": statistics.median(extra),
    }


def wake():
    """C releases the GIL for long work: time until a waiting Python thread
    runs. The waiter is CPU-bound, so it is queued for the GIL."""
    waits = []
    for _ in range(40):
        stamps = []
        stop = threading.Event()

        def waiter():
            while not stop.is_set():
                stamps.append(time.perf_counter())

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.02)  # the waiter now competes for the GIL
        start = time.perf_counter()
        RELEASED.busy_ms(10)
        stop.set()
        t.join()
        after = [s for s in stamps if s >= start]
        if after:
            waits.append((after[0] - start) * 1e6)
    return {"wake_median_us": statistics.median(waits), "wake_max_us": max(waits)}


def scaling():
    """Two threads each running the same C work: speed-up over running it
    twice in a row, with the GIL released (CDLL) and kept (PyDLL)."""
    n = 1_500_000

    def one(lib):
        start = time.perf_counter()
        lib.count_primes(n)
        return time.perf_counter() - start

    def two(lib):
        threads = [threading.Thread(target=lib.count_primes, args=(n,)) for _ in range(2)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start

    released = [2 * one(RELEASED) / two(RELEASED) for _ in range(3)]
    held = [2 * one(HELD) / two(HELD) for _ in range(3)]
    return {"speedup_released": statistics.median(released), "speedup_held": statistics.median(held)}


def handoff():
    """Two threads ping-ponging through two threading.Events."""
    rounds = 5000
    samples = []
    for _ in range(3):
        ping, pong = threading.Event(), threading.Event()

        def other():
            for _ in range(rounds):
                ping.wait()
                ping.clear()
                pong.set()

        t = threading.Thread(target=other)
        t.start()
        start = time.perf_counter()
        for _ in range(rounds):
            ping.set()
            pong.wait()
            pong.clear()
        elapsed = time.perf_counter() - start
        t.join()
        samples.append(elapsed * 1e6 / (2 * rounds))
    return {"one_way_us": statistics.median(samples)}


def interp():
    def run(name):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(HERE, name)], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return {"loop_s": run("loop.py"), "fib30_s": run("fib.py")}


SCENARIOS = {
    "cycle": cycle,
    "convoy": convoy,
    "spinner-lag": spinner_lag,
    "wake": wake,
    "scaling": scaling,
    "handoff": handoff,
    "interp": interp,
}


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    as_json = "--json" in sys.argv[1:]
    names = args or list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
        figures = SCENARIOS[name]()
        figures = {"scenario": name, "policy": "cpython " + sys.version.split()[0], **figures}
        if as_json:
            print(json.dumps(figures), flush=True)
        else:
            print(name, " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items() if k != "scenario"), flush=True)


if __name__ == "__main__":
    main()
