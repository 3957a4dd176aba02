"""Write-behind loss window per persistence mode (Redis SIGKILLed under steady writes), and
the worker-crash variant, against real servers, on the reference and its mutants."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scenario_helpers import caught, report_ready

from cachecheck import World
from cachecheck.scenarios import run_write_behind_loss, run_write_behind_worker_crash
from cachecheck.strategies.write_behind import (
    WriteBehind,
    persistence_of,
    write_behind_contract,
)


def write_behind(world: World) -> WriteBehind:
    return WriteBehind(world.client, world.database, world.namespace,
                       persistence=persistence_of(world), clock=world.clock)  # fmt: skip


@pytest.mark.parametrize("persistence", ["aof:always", "aof:everysec", "none"])
def test_loss_window_matches_the_persistence_mode(
    world_on: Callable[[str], World], persistence: str
) -> None:
    """appendfsync always: nothing acknowledged is lost. everysec: losses confined to the
    2 s window the contract states (a SIGKILL, unlike a power loss, loses nothing already
    written to the OS, so this usually measures 0). No persistence: only writes acknowledged
    within the last flush interval (+1 s of scheduling slack) may be lost."""
    world = world_on(persistence)
    contract = write_behind_contract(persistence=persistence)
    result = report_ready(run_write_behind_loss(world, write_behind, contract, seed=7))
    m = result.measurements
    assert result.passed, result.summary()
    assert m["persistence"] == persistence and m["crash_at_s"] is not None
    assert m["acknowledged"] > 50 and m["drained"]
    assert m["survived"] + m["lost"] == m["acknowledged"]
    if persistence == "aof:always":
        assert m["lost"] == 0
    assert m["loss_window_s"] <= m["loss_window_bound_s"]
    assert result.parameters["world"]["redis"]["persistence"]["mode"] == persistence.split(":")[0]


def test_a_worker_crash_loses_nothing_and_never_goes_back_in_time(world: World) -> None:
    """The crashed worker's pending batch is reclaimed when it restarts; versions keep
    every commit in order."""
    result = report_ready(
        run_write_behind_worker_crash(world, write_behind, write_behind_contract(), seed=3)
    )
    m = result.measurements
    assert result.passed, result.summary()
    assert m["crashed_mid_batch"] is True and m["lost"] == 0 and m["regressions"] == 0


def test_ack_before_commit_loses_acknowledged_writes(world: World) -> None:
    result = caught(world, "write_behind_ack_before_commit", "durability")
    assert result.measurements["lost"] > 0


def test_unguarded_apply_applies_an_older_value_over_a_newer_one(world: World) -> None:
    result = caught(world, "write_behind_unguarded_apply", "no_regression")
    assert result.measurements["regressions"] > 0
