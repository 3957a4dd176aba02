"""Benchmarks of the world: server start and the clean-slate reset between examples.

Run: `python -m pytest benchmarks/bench_world.py --benchmark-only -p no:valkey`
Each figure is read against a baseline measured in the same run (a bare PING round trip), so a
noisy machine moves both together.
"""

from __future__ import annotations

from typing import Any

import redis

from cachecheck._config import parse_redis_spec
from cachecheck._providers import start_redis
from cachecheck._world import World


def test_baseline_ping(benchmark: Any, cachecheck_redis: redis.Redis) -> None:
    benchmark(cachecheck_redis.ping)


def test_reset_between_examples(benchmark: Any, cachecheck_world: World) -> None:
    client = cachecheck_world.client()

    def dirty_then_reset() -> None:
        # A typical example leaves a handful of keys, rows and ops behind.
        pipe = client.pipeline(transaction=False)
        for i in range(10):
            pipe.set(f"{cachecheck_world.namespace}k{i}", "v", px=10_000)
        pipe.execute()
        for i in range(3):
            cachecheck_world.database.write(f"k{i}", "v")

    def reset() -> None:
        cachecheck_world.reset()

    benchmark.pedantic(reset, setup=dirty_then_reset, rounds=200, iterations=1)


def test_server_start_and_stop(benchmark: Any) -> None:
    def start_stop() -> None:
        start_redis(parse_redis_spec("auto")).stop()

    benchmark.pedantic(start_stop, rounds=10, iterations=1)
