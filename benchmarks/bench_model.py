"""Throughput of the stateful model: rule steps per second for cache-aside on a real Redis
server through the fault proxy, against a baseline measured in the same run (bare GETs per
second through the same proxy).

Run: `python benchmarks/bench_model.py [--examples 200] [--repeat 3] [--strategy cache_aside]`
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

from hypothesis import settings

from cachecheck._model import ModelConfig, run_model
from cachecheck._world import World
from cachecheck.chaos import attach_proxy, proxy_redis, start_session_toxiproxy


def bare_gets_per_second(world: World, seconds: float = 2.0) -> float:
    client = world.client()
    key = world.namespace + "bench"
    client.set(key, "v")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        client.get(key)
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--strategy", default="cache_aside")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--interleavings", action="store_true", help="include concurrent bursts")
    args = parser.parse_args()
    importlib.import_module("cachecheck.strategies.cache_aside")
    importlib.import_module(f"cachecheck.strategies.{args.strategy.split('_leased')[0]}")
    from cachecheck.strategies._registry import REFERENCES

    reference = REFERENCES[args.strategy]
    faults = set(reference.survives) - (set() if args.interleavings else {"interleavings"})
    rates, baselines = [], []
    with start_session_toxiproxy("embedded", seed=0) as toxiproxy, World.start() as world:
        attach_proxy(world, proxy_redis(toxiproxy, world.redis_server))
        for run in range(args.repeat):
            baseline = bare_gets_per_second(world)
            outcome = run_model(
                world,
                reference.factory,
                reference.contract,
                ModelConfig.for_faults(faults),
                settings=settings(max_examples=args.examples, stateful_step_count=50,
                                  deadline=None, database=None, derandomize=True),
            )  # fmt: skip
            rate = outcome.steps / outcome.seconds
            rates.append(rate)
            baselines.append(baseline)
            print(f"run {run + 1}: {outcome.examples} examples, {outcome.steps} steps in "
                  f"{outcome.seconds:.2f} s = {rate:,.0f} steps/s; bare GET {baseline:,.0f}/s; "
                  f"passed={outcome.passed}")  # fmt: skip
    rate, baseline = statistics.median(rates), statistics.median(baselines)
    print(f"strategy            {args.strategy} (faults: {', '.join(sorted(faults))})")
    print(f"model steps/s       {rate:,.0f} (median of {args.repeat})")
    print(f"baseline GETs/s     {baseline:,.0f} (bare GET through the proxy, median)")
    print(f"ratio               {rate / baseline:.3f} steps per bare GET")


if __name__ == "__main__":
    main()
