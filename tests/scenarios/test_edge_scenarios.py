"""Dedicated property checks of the edge strategies: references pass, mutants are caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from scenario_helpers import caught, report_ready

from cachecheck import Contract, World
from cachecheck.scenarios import (
    run_http_conformance,
    run_metrics_accuracy,
    run_remap_fraction,
    run_shard_flap,
    run_torn_read,
)
from cachecheck.strategies.http import HTTP_CONTRACT, make_http_middleware
from cachecheck.strategies.large_values import SIZE_GUARD_CONTRACT, make_size_guard
from cachecheck.strategies.metrics import METRICS_CONTRACT, make_metrics_cache
from cachecheck.strategies.sharding import SHARDED_CONTRACT, make_sharded_cache

REFERENCES: list[tuple[Callable[..., Any], Callable[[World], Any], Contract]] = [
    (run_remap_fraction, make_sharded_cache, SHARDED_CONTRACT),
    (run_shard_flap, make_sharded_cache, SHARDED_CONTRACT),
    (run_torn_read, make_size_guard, SIZE_GUARD_CONTRACT),
    (run_metrics_accuracy, make_metrics_cache, METRICS_CONTRACT),
    (run_http_conformance, make_http_middleware, HTTP_CONTRACT),
]


@pytest.mark.parametrize(("run", "factory", "contract"), REFERENCES,
                         ids=lambda v: getattr(v, "__name__", ""))  # fmt: skip
def test_reference_passes(world: World, run: Any, factory: Any, contract: Contract) -> None:
    result = report_ready(run(world, factory, contract, seed=1))
    assert result.passed, result.summary()


def test_ring_remaps_about_one_key_in_n_plus_one(world: World) -> None:
    result = run_remap_fraction(world, make_sharded_cache, SHARDED_CONTRACT)
    assert 0.17 <= result.measurements["moved_fraction"] <= 0.33


@pytest.mark.parametrize(
    ("mutant", "prop"),
    [
        ("sharded_modulo_hashing", "remap_fraction"),
        ("sharded_no_owner_generation", "staleness"),
        ("size_guard_unversioned_chunks", "size"),
        ("metrics_negative_hit_as_miss", "metrics"),
        ("http_etag_unquoted", "http"),
        ("http_ims_string_compare", "http"),
        ("http_if_match_weak_compare", "http"),
        ("http_304_with_body", "http"),
        ("http_stores_private", "http"),
    ],
)
def test_mutant_is_caught(world: World, mutant: str, prop: str) -> None:
    caught(world, mutant, prop)


def test_catch_mutant_builds_and_closes_its_own_world() -> None:
    """A world factory: the catcher runs on a fresh world (here a new server and database)
    and closes it afterwards."""
    from cachecheck.scenarios import catch_mutant
    from cachecheck.strategies._registry import MUTANTS

    made: list[World] = []

    def fresh() -> World:
        made.append(World.start())
        return made[-1]

    assert catch_mutant(fresh, MUTANTS["sharded_modulo_hashing"]) == (True, "remap_fraction")
    assert made and not made[0].server.running


def test_a_catcher_that_needs_the_proxy_does_not_run_without_one(
    world_on: Callable[[str], World],
) -> None:
    from cachecheck.scenarios import catch_mutant
    from cachecheck.strategies._registry import MUTANTS

    assert catch_mutant(world_on("none"), MUTANTS["breaker_no_half_open"]) is None
