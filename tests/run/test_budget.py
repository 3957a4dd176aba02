"""drive_model's seed and time budget: the budget is checked between examples; a violation
seen before it ran out is still reported (replayed from the example database, partly shrunk),
and a run cut short without one is `incomplete`, not passed."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import settings

from cachecheck import Contract, ModelConfig, TtlPolicy, World
from cachecheck.suite import drive_model, record_from_model

CONTRACT = Contract(name="budget", ttl=TtlPolicy(max_seconds=60))
SETTINGS = settings(max_examples=200, stateful_step_count=8, deadline=None)
SEQUENTIAL = ModelConfig(keys=("k0",), interleavings=False, time_travel=False, evictions=False)


class ReadThrough:
    def __init__(self, world: World) -> None:
        self.db = world.database

    def get(self, key: str) -> str | None:
        return self.db.read(key)

    def set(self, key: str, value: str) -> None:
        self.db.write(key, value)

    def delete(self, key: str) -> None:
        self.db.delete(key)


class Forgetful(ReadThrough):
    """Caches the first answer it reads (absence too) and never invalidates."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.redis = world.client()
        self.prefix = world.namespace + "f:"

    def get(self, key: str) -> str | None:
        hit = self.redis.get(self.prefix + key)
        if hit is not None:
            return None if hit == "-" else str(hit)
        value = self.db.read(key)
        self.redis.set(self.prefix + key, "-" if value is None else value, ex=60)
        return value


def slow(factory: Any, seconds: float) -> Any:
    def build(world: World) -> Any:
        time.sleep(seconds)
        return factory(world)

    return build


def test_a_spent_budget_stops_before_the_first_example(cachecheck_world: World) -> None:
    run = drive_model(cachecheck_world, ReadThrough, CONTRACT, SEQUENTIAL, settings=SETTINGS,
                      seed=1, deadline=time.monotonic() - 1)  # fmt: skip
    assert not run.complete and run.outcome.examples == 0
    record = record_from_model(run)
    assert record.status == "incomplete"
    assert "time budget ran out after 0 examples" in (record.reason or "")


def test_a_violation_seen_before_the_budget_ran_out_is_reported(cachecheck_world: World) -> None:
    # Each example costs at least 0.1 s, so at most 50 fit in the 5 s budget. With seed 1 the
    # bug (a write, then a read of the one key) is first seen at example 29 (about 3 s, 3.6 s
    # on a loaded machine); shrinking it takes about 50 more examples (5 s), more than the
    # 1.4-2 s left.
    run = drive_model(cachecheck_world, slow(Forgetful, 0.1), CONTRACT, SEQUENTIAL,
                      settings=settings(SETTINGS, max_examples=200, database=None), seed=1,
                      deadline=time.monotonic() + 5.0)  # fmt: skip
    assert not run.complete and not run.shrunk
    record = record_from_model(run)
    assert record.status == "failed"
    assert record.violation is not None and not record.violation.shrunk
    assert record.violation.counterexample.startswith("state = CacheModel[budget]()")


def test_the_same_seed_explores_the_same_examples(cachecheck_world: World) -> None:
    runs = [
        drive_model(
            cachecheck_world,
            ReadThrough,
            CONTRACT,
            SEQUENTIAL,
            settings=settings(SETTINGS, max_examples=5),
            seed=7,
        )
        for _ in range(2)
    ]
    assert [r.outcome.passed for r in runs] == [True, True]
    assert runs[0].outcome.steps == runs[1].outcome.steps
