"""Hot-path read latency of each reference strategy against a bare redis-py GET, in one run.

Run: `python benchmarks/bench_strategies.py [--reads 2000]`
A hit should cost one round trip: the goal is a median of at most 1.15x the bare GET's. The
bare GET reads a value of the same size, through a client with the same settings; rounds
alternate between baseline and strategy so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cachecheck.strategies  # noqa: F401  (registers every reference)
from cachecheck._subject import Closeable
from cachecheck._world import World
from cachecheck.strategies._registry import REFERENCES

#: Sharding, metrics and size guard need optional extras; skipped if missing.
VALUE = "v" * 64


def median_us(call: Callable[[], object], reads: int) -> float:
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def measure(world: World, name: str, reads: int) -> tuple[float, float] | None:
    world.reset()
    try:
        subject = REFERENCES[name].factory(world)
    except ImportError as exc:
        print(f"{name:22} skipped: {exc}")
        return None
    bare = world.client()
    bare.set(world.namespace + "bare", VALUE)
    try:
        subject.set("hot", VALUE)
        subject.get("hot")  # fill
        base, strat = [], []
        for _ in range(5):
            base.append(median_us(lambda: bare.get(world.namespace + "bare"), reads // 5))
            strat.append(median_us(lambda: subject.get("hot"), reads // 5))
        return statistics.median(base), statistics.median(strat)
    finally:
        if isinstance(subject, Closeable):
            subject.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'strategy':22} {'bare GET us':>11} {'hit us':>8} {'ratio':>6}")
    with World.start() as world:
        for name in sorted(REFERENCES):
            found = measure(world, name, args.reads)
            if found is not None:
                base, hit = found
                print(f"{name:22} {base:11.1f} {hit:8.1f} {hit / base:6.2f}")


if __name__ == "__main__":
    main()
