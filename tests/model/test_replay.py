"""Counterexamples replay exactly: races schedule the same way every time (a script's first
run included), steps replay from their recorded arguments, a failing step's teardown adds no
second failure, and minimization drops steps the violation does not need."""

from __future__ import annotations

import importlib

import pytest

from cachecheck._interleave import IoPoints, instrument
from cachecheck._model import (
    ContractViolation,
    ModelConfig,
    ModelOutcome,
    Step,
    _minimize,
    _Tracker,
    build_machine,
    format_steps,
    replay_steps,
)
from cachecheck._world import World

importlib.import_module("cachecheck.strategies._mutants_core")
from cachecheck.strategies._registry import MUTANTS, REFERENCES  # noqa: E402

STALE_SET = Step("race", {"ops": ["read", "write"], "key": "k0", "after": 2})


def _machine(world: World, mutant: str) -> type:
    bug = MUTANTS[mutant]
    config = ModelConfig.for_faults(REFERENCES[bug.strategy].survives)
    return build_machine(world, bug.factory, bug.contract, config)


def test_a_race_replays_identically(cachecheck_world: World) -> None:
    # The reader is preempted after its lease lookup and database read; the write commits
    # and invalidates; the unguarded fill then stores the old value. Every replay, the first
    # (when the server has not cached the scripts yet) included.
    cachecheck_world.admin_client().script_flush()
    machine = _machine(cachecheck_world, "cache_aside_leased_unguarded_fill")
    found = [replay_steps(machine, [STALE_SET]) for _ in range(3)]
    assert all(v is not None and "convergence" in v.properties for v in found), found


def test_the_same_race_on_the_reference_passes(cachecheck_world: World) -> None:
    reference = REFERENCES["cache_aside_leased"]
    config = ModelConfig.for_faults(reference.survives)
    machine = build_machine(cachecheck_world, reference.factory, reference.contract, config)
    assert replay_steps(machine, [STALE_SET]) is None


def test_io_points_of_a_script_do_not_depend_on_the_server_cache(
    cachecheck_world: World,
) -> None:
    points, seen = IoPoints(), []
    points.hook = lambda component, operation: seen.append(operation)
    client = instrument(cachecheck_world.client(), points)
    script = client.register_script("return 1")
    cachecheck_world.admin_client().script_flush()
    script()  # NOSCRIPT, SCRIPT LOAD, EVALSHA: one logical command
    script()
    assert seen == ["EVALSHA", "EVALSHA"]


def test_teardown_after_a_failing_step_only_cleans_up(cachecheck_world: World) -> None:
    machine = _machine(cachecheck_world, "cache_aside_leased_unguarded_fill")
    state = machine()
    with pytest.raises(ContractViolation):
        state.race(**STALE_SET.arguments)
    state.teardown()  # would find the stale entry again; must not raise a second violation


def test_minimize_drops_steps_the_violation_does_not_need(cachecheck_world: World) -> None:
    machine = _machine(cachecheck_world, "cache_aside_leased_unguarded_fill")
    noise = [
        Step("read", {"client": "c1", "key": "k1"}),
        Step("time_passes", {"seconds": 2.5}),
        Step("write", {"client": "c2", "key": "k1"}),
    ]
    steps = [*noise, STALE_SET, Step("read", {"client": "c0", "key": "k1"})]
    violation = replay_steps(machine, steps)
    assert violation is not None
    tracker = _Tracker()
    tracker.last_steps = steps
    outcome = ModelOutcome(subject="x", passed=False, violation=violation)
    _minimize(machine, outcome, tracker, until=float("inf"))
    assert outcome.counterexample == format_steps([STALE_SET], machine.__name__)
    assert outcome.counterexample_steps == 1


def test_steps_print_as_replayable_calls() -> None:
    assert str(STALE_SET) == "race(ops=['read', 'write'], key='k0', after=2)"
    assert str(Step("drain")) == "drain()"


def test_background_work_runs_inline_only_while_the_model_drives() -> None:
    import threading

    from cachecheck._interleave import BackgroundExecutor

    points = IoPoints()
    executor = BackgroundExecutor(points, 1)
    try:
        assert executor.submit(threading.get_ident).result() != threading.get_ident()
        points.inline_background = True
        assert executor.submit(threading.get_ident).result() == threading.get_ident()
        failed = executor.submit(lambda: 1 / 0)
        assert isinstance(failed.exception(), ZeroDivisionError)
    finally:
        executor.shutdown()


def test_a_refresh_racing_a_delete_replays_identically(cachecheck_world: World) -> None:
    # A hit in the refresh window starts a reload; inline under the model, the reload's
    # database read is an I/O point of the reading task, so the delete lands between it and
    # the store the same way every time, and the mutant's store drops the TTL every time.
    machine = _machine(cachecheck_world, "refresh_ahead_drops_ttl")
    steps = [
        Step("read", {"client": "c0", "key": "k0"}),
        Step("time_passes", {"seconds": 51.0}),
        Step("race", {"ops": ["read", "delete"], "key": "k0", "after": 1}),
    ]
    found = [replay_steps(machine, steps) for _ in range(3)]
    assert all(v is not None and "ttl_hygiene" in v.properties for v in found), found
