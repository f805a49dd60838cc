#!/usr/bin/env python3
"""The `interpreters` scenario of `gilscope bench`, run in CPython: what
threads and processes cost and gain for CPU-bound pure-Python work.

    python3 benches/cpython/interpreters.py [--json] [--repeats N]

Figures (the same names as `gilscope bench interpreters --json`; the
`*_interpreter*` figures exist only on the gilscope side — CPython 3.11 has
no per-interpreter lock reachable from Python):

  speedup_threads        serial time / time of the same two work units on 2 threads
  speedup_processes      serial time / time on 2 processes (multiprocessing,
                         start-up included)
  start_thread_us        start and join a thread that does nothing
  start_process_us       start and join a process that does nothing
  round_trip_thread_us   one message there and back between two threads
                         (two queue.Queue)
  round_trip_process_us  the same between two processes (two
                         multiprocessing.Queue)
  round_trip_pipe_us     the same over one multiprocessing.Pipe

Each figure is the median over --repeats runs (default 5). The message is a
small list, [1, "ping", 2.5]: what a worker pool would send.
"""
import json
import multiprocessing
import os
import queue
import statistics
import sys
import threading
import time

# One work unit: a read-modify-write loop, as in benches/toy/loop.toy.
WORK_ITERATIONS = 12_000_000
MESSAGE = [1, "ping", 2.5]


def work(n=WORK_ITERATIONS):
    total = 0
    for i in range(n):
        total = total + i
    return total


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def serial():
    work()
    work()


def two_threads():
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def two_processes():
    procs = [multiprocessing.Process(target=work) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"work process exited with {p.exitcode}")


def speedups(repeats):
    serial_s, threads_s, processes_s = [], [], []
    for _ in range(repeats):
        # Interleaved, so a noisy moment hurts all three alike.
        serial_s.append(timed(serial))
        threads_s.append(timed(two_threads))
        processes_s.append(timed(two_processes))
    s = statistics.median(serial_s)
    return {
        "serial_s": s,
        "speedup_threads": s / statistics.median(threads_s),
        "speedup_processes": s / statistics.median(processes_s),
    }


def nothing():
    pass


def start_costs(repeats):
    def thread_us():
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            t = threading.Thread(target=nothing)
            t.start()
            t.join()
        return (time.perf_counter() - start) / n * 1e6

    def process_us():
        n = 20
        start = time.perf_counter()
        for _ in range(n):
            p = multiprocessing.Process(target=nothing)
            p.start()
            p.join()
        return (time.perf_counter() - start) / n * 1e6

    return {
        "start_thread_us": statistics.median(thread_us() for _ in range(repeats)),
        "start_process_us": statistics.median(process_us() for _ in range(repeats)),
    }


def echo_queues(inbox, outbox):
    while True:
        item = inbox.get()
        if item is None:
            return
        outbox.put(item)


def echo_pipe(conn):
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(item)


def per_round_trip_us(send, recv, n):
    for _ in range(100):  # warm up
        send(MESSAGE)
        recv()
    start = time.perf_counter()
    for _ in range(n):
        send(MESSAGE)
        recv()
    return (time.perf_counter() - start) / n * 1e6


def round_trips(repeats):
    there, back = queue.Queue(), queue.Queue()
    echo = threading.Thread(target=echo_queues, args=(there, back))
    echo.start()
    thread_us = statistics.median(
        per_round_trip_us(there.put, back.get, 5_000) for _ in range(repeats)
    )
    there.put(None)
    echo.join()

    there, back = multiprocessing.Queue(), multiprocessing.Queue()
    echo = multiprocessing.Process(target=echo_queues, args=(there, back))
    echo.start()
    process_us = statistics.median(
        per_round_trip_us(there.put, back.get, 2_000) for _ in range(repeats)
    )
    there.put(None)
    echo.join()

    mine, theirs = multiprocessing.Pipe()
    echo = multiprocessing.Process(target=echo_pipe, args=(theirs,))
    echo.start()
    pipe_us = statistics.median(
        per_round_trip_us(mine.send, mine.recv, 2_000) for _ in range(repeats)
    )
    mine.send(None)
    echo.join()
    return {
        "round_trip_thread_us": thread_us,
        "round_trip_process_us": process_us,
        "round_trip_pipe_us": pipe_us,
    }


def main():
    as_json = "--json" in sys.argv[1:]
    repeats = 5
    if "--repeats" in sys.argv[1:]:
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1])
    figures = {
        "scenario": "interpreters",
        "policy": "cpython " + sys.version.split()[0],
        "cores": len(os.sched_getaffinity(0)),
        "start_method": multiprocessing.get_start_method(),
        "repeats": repeats,
    }
    figures.update(speedups(repeats))
    figures.update(start_costs(repeats))
    figures.update(round_trips(repeats))
    if as_json:
        print(json.dumps(figures), flush=True)
    else:
        print(
            "interpreters",
            " ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in figures.items()
                if k != "scenario"
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
