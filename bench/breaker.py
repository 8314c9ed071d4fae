"""Per-call cost of a closed circuit breaker: ours against pybreaker, in the same run.

Each figure is the best of several timeit rounds of a trivial function called through the
decorator, in nanoseconds per call (the call itself included; `bare_ns` is the call alone).
A second figure shows the lock: 8 threads each making calls that sleep 10 ms.

    .venv/bin/python bench/breaker.py [--quick]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from importlib.metadata import version

import pybreaker

from bounceback.agent.breaker import CircuitBreaker, SlidingWindow

THREADS = 8
SLEEP = 0.010


def trivial() -> None:
    return None


async def trivial_async() -> None:
    return None


def best_ns(
    candidates: dict[str, Callable[[], object]], number: int, repeat: int
) -> dict[str, float]:
    """Best time per call of each candidate, rounds interleaved so drift hits all alike."""
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeat):
        for name, fn in candidates.items():
            seconds = timeit.timeit(fn, number=number)
            best[name] = min(best[name], seconds / number * 1e9)
    return best


def best_async_ns(fn: Callable[[], Awaitable[None]], number: int, repeat: int) -> float:
    async def rounds() -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter_ns()
            for _ in range(number):
                await fn()
            best = min(best, (time.perf_counter_ns() - start) / number)
        return best

    return asyncio.run(rounds())


def threaded_seconds(fn: Callable[[], None], calls_per_thread: int) -> float:
    def worker() -> None:
        for _ in range(calls_per_thread):
            fn()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run, well under 60 s")
    args = parser.parse_args()
    number, repeat, calls_per_thread = (200_000, 5, 5) if args.quick else (1_000_000, 7, 10)

    ours = CircuitBreaker("bench")  # the seed's defaults: 5 failures, 60 s, 3 successes
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60, success_threshold=3)
    windowed = CircuitBreaker("bench-window", window=SlidingWindow())

    def through_context() -> None:
        with ours:
            trivial()

    ns = best_ns(
        {
            "bare": trivial,
            "ours": ours(trivial),
            "pybreaker": theirs(trivial),
            "ours_window": windowed(trivial),
            "ours_context": through_context,
        },
        number,
        repeat,
    )
    bare_async = best_async_ns(trivial_async, number, repeat)
    ours_async = best_async_ns(ours(trivial_async), number, repeat)

    def nap() -> None:
        time.sleep(SLEEP)

    ours_threads = threaded_seconds(ours(nap), calls_per_thread)
    pybreaker_threads = threaded_seconds(theirs(nap), calls_per_thread)

    speedup = ns["pybreaker"] / ns["ours"]
    overhead_ours = ns["ours"] - ns["bare"]
    overhead_pybreaker = ns["pybreaker"] - ns["bare"]
    serial = THREADS * calls_per_thread * SLEEP
    print(f"bare call            {ns['bare']:8.1f} ns")
    print(f"ours (decorator)     {ns['ours']:8.1f} ns   +{overhead_ours:.1f} ns")
    print(f"pybreaker (decorator){ns['pybreaker']:8.1f} ns   +{overhead_pybreaker:.1f} ns")
    print(f"ours, sliding window {ns['ours_window']:8.1f} ns")
    print(f"ours, `with breaker:`{ns['ours_context']:8.1f} ns")
    print(f"ours async           {ours_async:8.1f} ns   (bare await {bare_async:.1f} ns)")
    print(f"speedup vs pybreaker {speedup:8.2f}x per call")
    print(
        f"{THREADS} threads x {calls_per_thread} calls of {SLEEP * 1000:.0f} ms: ours "
        f"{ours_threads:.2f} s, pybreaker {pybreaker_threads:.2f} s (serialized would be "
        f"{serial:.2f} s)"
    )
    result = {
        "bench": "breaker",
        "ours_ns": round(ns["ours"], 1),
        "pybreaker_ns": round(ns["pybreaker"], 1),
        "bare_ns": round(ns["bare"], 1),
        "speedup": round(speedup, 2),
        "overhead_ours_ns": round(overhead_ours, 1),
        "overhead_pybreaker_ns": round(overhead_pybreaker, 1),
        "ours_window_ns": round(ns["ours_window"], 1),
        "ours_context_ns": round(ns["ours_context"], 1),
        "ours_async_ns": round(ours_async, 1),
        "bare_async_ns": round(bare_async, 1),
        "threads_ours_s": round(ours_threads, 3),
        "threads_pybreaker_s": round(pybreaker_threads, 3),
        "python": platform.python_version(),
        "pybreaker": version("pybreaker"),
        "number": number,
        "repeat": repeat,
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
