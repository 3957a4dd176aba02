"""Probabilistic early expiration (XFetch): recompute shortly before expiry, one reader at a
time, so that readers arriving together at the expiry find a fresh entry.

Time is moved, not waited for: the world's clock (an `OffsetClock`) advances `step` s
between reads, and each recomputation advances it by `recompute_seconds` (the subject's
`before_load` hook), which XFetch measures as its recompute time delta. At the entry's
original expiry, `burst_readers` threads read at once with a really slow database.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Any

from cachecheck._contract import Contract
from cachecheck._model import SubjectFactory
from cachecheck._world import World
from cachecheck.checkers import Finding
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    Subjects,
    ThreadGroup,
    describe_params,
    recorded_read,
    subject_name,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = ["XFetchParams", "run_xfetch_expiry"]

SINGLE_FLIGHT = "single_flight"


@dataclass(frozen=True)
class XFetchParams:
    """A recompute takes `recompute_seconds` (logical); one read every `step` s from the fill
    to the original expiry. A recompute more than `far_gaps * delta * beta` before the
    entry's expiry (probability e^-far_gaps per read) is premature; more than `max_premature`
    of those, or more than `max_burst_loads` loads among `burst_readers` readers arriving at
    the original expiry (database reads then take `burst_db_latency` real s), is a finding."""

    key: str = "hot"
    recompute_seconds: float = 0.5
    step: float = 0.05
    far_gaps: float = 8.0
    max_premature: int = 2
    burst_readers: int = 6
    burst_db_latency: float = 0.2
    max_burst_loads: int = 1


def run_xfetch_expiry(
    world: World,
    factory: Any,
    contract: Contract,
    *,
    params: XFetchParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Regenerations per expiry: early (but not premature) recomputation by one reader, and
    no stampede when readers arrive together at the expiry. `factory(world, before_load=...,
    seed=...)` must accept a load hook and the seed of its random draws (the registered
    XFetch factories do), and the subject must expose `ttl`, `beta` and `before_load`; the
    world's clock must be advanceable (`OffsetClock`)."""
    params = params or XFetchParams()
    clock: Any = world.clock
    if not hasattr(clock, "advance"):
        raise TypeError(f"run_xfetch_expiry moves time: {clock!r} has no advance()")
    started = time.monotonic()
    world.reset()
    world.database.write(params.key, f"{params.key}#v1")

    def slow_recompute(_key: str, _token: str) -> None:
        clock.advance(params.recompute_seconds)

    with Subjects(world, _with_hook(factory, slow_recompute, seed)) as subjects:
        subject = subjects.one()
        timeline = _walk_to_expiry(world, subject, params)
        subject.before_load = None
        burst = _burst(world, subjects, subject, params, timeline["expiry"])
        name = subject_name(subject, contract.name)
    return _judge(world, params, timeline, burst, float(subject.beta), seed,
                  time.monotonic() - started, name)  # fmt: skip


def _with_hook(factory: Any, hook: Any, seed: int) -> SubjectFactory:
    return lambda world: factory(world, before_load=hook, seed=seed)


def _loads(world: World, key: str) -> int:
    return world.database.load_counts()[key]


def _walk_to_expiry(world: World, subject: Any, params: XFetchParams) -> dict[str, Any]:
    """Fill, then one read per `step` until the original expiry; every recompute is logged
    with its gap to the entry's expiry at the time."""
    clock: Any = world.clock
    recorded_read(world, "reader", subject, params.key)
    t0 = clock.now()
    expiry = t0 + float(subject.ttl)
    current = expiry
    recomputes: list[tuple[float, float]] = []  # (time since fill, gap to current expiry)
    while clock.now() + params.step < expiry:
        clock.advance(params.step)
        before, now = _loads(world, params.key), clock.now()
        recorded_read(world, "reader", subject, params.key)
        if _loads(world, params.key) > before:
            recomputes.append((now - t0, current - now))
            current = clock.now() + float(subject.ttl)
    return {"t0": t0, "expiry": expiry, "recomputes": recomputes,
            "reads": int((expiry - t0) / params.step)}  # fmt: skip


def _burst(
    world: World, subjects: Subjects, subject: Any, params: XFetchParams, expiry: float
) -> int:
    """Readers arriving together at the original expiry, with a slow database: their loads."""
    clock: Any = world.clock
    clock.advance(max(0.0, expiry - clock.now()))
    readers = [subject, *subjects.make(params.burst_readers - 1)]
    for reader in readers[1:]:
        reader.before_load = None
    before = _loads(world, params.key)
    barrier = threading.Barrier(len(readers))
    world.database.hooks.read_latency = params.burst_db_latency

    def read(reader: Any, client: str) -> None:
        barrier.wait(30)
        recorded_read(world, client, reader, params.key)

    try:
        with ThreadGroup() as group:
            for i, reader in enumerate(readers):
                group.start(f"xfetch-burst-{i}", functools.partial(read, reader, f"burst{i}"))
    finally:
        world.database.hooks.read_latency = 0.0
    return _loads(world, params.key) - before


def _judge(
    world: World,
    params: XFetchParams,
    timeline: dict[str, Any],
    burst: int,
    beta: float,
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    far = params.far_gaps * params.recompute_seconds * beta
    recomputes = timeline["recomputes"]
    premature = [gap for _, gap in recomputes if gap > far]
    findings: list[Finding] = []
    if len(premature) > params.max_premature:
        findings.append(scenario_finding(
            "early_recompute_only_near_expiry", f"{len(premature)} of {timeline['reads']} reads "
            f"recomputed more than {far:g} s before expiry (probability e^-{params.far_gaps:g} "
            "each): recomputation is not confined to the end of the entry's life.",
            checker=SINGLE_FLIGHT, premature=len(premature)))  # fmt: skip
    if burst > params.max_burst_loads:
        findings.append(scenario_finding(
            "one_regeneration_per_expiry", f"{burst} of {params.burst_readers} readers arriving "
            "together at the expiry loaded the key: nobody recomputed it early, so they "
            "stampeded.", checker=SINGLE_FLIGHT, burst_loads=burst))  # fmt: skip
    measurements = {
        "reads_before_expiry": timeline["reads"],
        "recomputes_before_expiry": len(recomputes),
        "first_recompute_gap_s": round(recomputes[0][1], 3) if recomputes else None,
        "premature_recomputes": len(premature),
        "burst_readers": params.burst_readers,
        "burst_loads": burst,
        "beta": beta,
    }
    return build_result(
        "xfetch_expiry", subject, findings=findings,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=[fig.histogram("Recomputations: time left before expiry", "s before expiry",
                               [gap for _, gap in recomputes], y_label="recomputes",
                               bound=far, note="bound: premature beyond this")],
        seed=seed, seconds=seconds,
        description="Reads every step until the entry's expiry (moved time), then readers "
        "arriving together at the original expiry with a slow database.",
    )  # fmt: skip
