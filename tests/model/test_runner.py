"""The concurrent runner: real threads, a fault schedule, the history checked afterwards."""

from __future__ import annotations

import pytest

from cachecheck._contract import Contract
from cachecheck._runner import RunnerConfig, run_concurrent, schedule
from cachecheck._world import World

CONTRACT = Contract(name="runner-test", staleness_bound=None)


class ReadThrough:
    """No cache at all: every read goes to the database, so it is always consistent."""

    def __init__(self, world: World) -> None:
        self.db = world.database

    def get(self, key: str) -> str | None:
        return self.db.read(key)

    def set(self, key: str, value: str) -> None:
        self.db.write(key, value)

    def delete(self, key: str) -> None:
        self.db.delete(key)


class NeverInvalidates:
    """Caches forever and never invalidates on write: stale after the first write."""

    def __init__(self, world: World) -> None:
        self.redis = world.client()
        self.db = world.database
        self.prefix = world.namespace + "never:"

    def get(self, key: str) -> str | None:
        cached = self.redis.get(self.prefix + key)
        if cached is not None:
            return str(cached)
        value = self.db.read(key)
        if value is not None:
            self.redis.set(self.prefix + key, value)
        return value

    def set(self, key: str, value: str) -> None:
        self.db.write(key, value)

    def delete(self, key: str) -> None:
        self.db.delete(key)


def test_a_consistent_subject_passes_under_concurrency(cachecheck_world: World) -> None:
    outcome = run_concurrent(
        cachecheck_world, ReadThrough, CONTRACT, RunnerConfig(clients=4, duration=0.5, seed=1)
    )
    assert outcome.passed, [r.to_dict() for r in outcome.results if not r.ok]
    assert outcome.ops > 50


def test_a_cache_that_never_invalidates_is_caught(cachecheck_world: World) -> None:
    # Every key is written many times by seeded clients, and a final read of each key is
    # served from the never-invalidated cache: convergence must fail.
    config = RunnerConfig(clients=3, duration=0.5, seed=2, max_ops_per_client=200)
    outcome = run_concurrent(cachecheck_world, NeverInvalidates, CONTRACT, config)
    assert "convergence" in outcome.properties_violated


def test_faults_are_applied_on_schedule_and_recorded(cachecheck_world: World) -> None:
    def crash(world: World) -> None:
        world.server.kill()
        world.server.restart()

    config = RunnerConfig(
        clients=2, duration=0.6, seed=3, faults=schedule((0.2, "redis_crash", crash))
    )
    outcome = run_concurrent(cachecheck_world, ReadThrough, CONTRACT, config)
    assert outcome.faults_applied == ["redis_crash"]
    assert [e.name for e in cachecheck_world.history.events][:1] == ["redis_crash"]
    assert outcome.passed


def test_bad_runner_config_is_refused() -> None:
    with pytest.raises(ValueError, match="clients"):
        RunnerConfig(clients=0)
