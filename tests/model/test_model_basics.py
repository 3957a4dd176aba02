"""The stateful model on small hand-written subjects: a correct cache passes, and a cache with
the delete-before-update race is caught through a Hypothesis-chosen interleaving."""

from __future__ import annotations

from hypothesis import settings

from cachecheck._contract import Contract, TtlPolicy
from cachecheck._model import ModelConfig, run_model
from cachecheck._world import World

CONTRACT = Contract(name="tiny-cache-aside", staleness_bound=None, ttl=TtlPolicy(max_seconds=60))


class TinyCacheAside:
    """Cache-aside with DB-first writes and version-guarded fills (no stale-set race)."""

    def __init__(self, world: World) -> None:
        self.redis = world.client()
        self.db = world.database
        self.prefix = world.namespace + "tiny:"

    def get(self, key: str) -> str | None:
        cached = self.redis.get(self.prefix + key)
        if cached is not None:
            return None if cached == "\0" else str(cached)
        value = self.db.read(key)
        # Fill only if nobody invalidated in between: SET NX can still race, so the reference
        # strategies use leases; this tiny version fills with NX and a short TTL.
        self.redis.set(self.prefix + key, "\0" if value is None else value, nx=True, ex=60)
        return value

    def set(self, key: str, value: str) -> None:
        self.db.write(key, value)
        self.redis.delete(self.prefix + key)

    def delete(self, key: str) -> None:
        self.db.delete(key)
        self.redis.delete(self.prefix + key)


class DeleteBeforeUpdate(TinyCacheAside):
    def set(self, key: str, value: str) -> None:
        self.redis.delete(self.prefix + key)
        self.db.write(key, value)


class NoTtl(TinyCacheAside):
    def get(self, key: str) -> str | None:
        value = self.db.read(key)
        self.redis.set(self.prefix + key, "\0" if value is None else value)
        return value


FAST = settings(
    max_examples=200, stateful_step_count=20, deadline=None, database=None, derandomize=True
)


def test_sequential_model_passes_a_correct_cache(cachecheck_world: World) -> None:
    outcome = run_model(
        cachecheck_world, TinyCacheAside, CONTRACT, ModelConfig(interleavings=False), settings=FAST
    )
    assert outcome.passed, outcome.violation
    assert outcome.examples > 10
    assert outcome.steps > 100


def test_interleavings_catch_delete_before_update(cachecheck_world: World) -> None:
    outcome = run_model(cachecheck_world, DeleteBeforeUpdate, CONTRACT, settings=FAST)
    assert not outcome.passed
    assert "convergence" in outcome.properties_violated, outcome.violation
    assert outcome.counterexample_steps is not None
    assert outcome.counterexample_steps <= 8, outcome.counterexample
    shown = outcome.counterexample
    bursts = ("race", "race_on_miss", "concurrently")
    assert any(f"state.{burst}(" in shown for burst in bursts), shown


def test_ttl_hygiene_catches_a_fill_without_ttl(cachecheck_world: World) -> None:
    outcome = run_model(
        cachecheck_world, NoTtl, CONTRACT, ModelConfig(interleavings=False), settings=FAST
    )
    assert not outcome.passed
    assert "ttl" in " ".join(outcome.properties_violated), outcome.violation
