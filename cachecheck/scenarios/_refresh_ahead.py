"""Refresh-ahead under latency: at most one refresh in flight per key across nodes, and no
refresh on a miss.

Several nodes (subjects) miss on cold keys together: each key must be loaded once, and the
miss must not also schedule a refresh. Then every entry's TTL is cut into the refresh window
(as time passing would) and the nodes keep reading through a slow Redis link with a slow
database: one refresh per key, never two at once, while reads keep hitting.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachecheck._contract import Contract
from cachecheck._database import Load
from cachecheck._history import OpKind
from cachecheck._model import SubjectFactory
from cachecheck._subject import Drainable
from cachecheck._world import World
from cachecheck.chaos import Direction, Latency
from cachecheck.checkers import Finding, check_single_flight
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    Subjects,
    ThreadGroup,
    describe_params,
    recorded_read,
    shorten_ttls,
    stats_ms,
    subject_name,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = ["RefreshParams", "run_refresh_ahead"]

REFRESH = "refresh"


@dataclass(frozen=True)
class RefreshParams:
    """`nodes` subjects (one reader thread each) read `keys`. Database reads take
    `db_latency` s throughout; during the refresh phase every entry's PTTL is cut to
    `window_ms` (inside the refresh window) and the Redis link gets `redis_latency_ms` each
    way (through the fault proxy, when there is one) for `duration` s of reads every
    `read_interval` s. Afterwards background refreshes get `drain_timeout` s to finish."""

    nodes: int = 3
    keys: tuple[str, ...] = ("k0", "k1")
    db_latency: float = 0.2
    redis_latency_ms: int = 5
    window_ms: int = 2000
    duration: float = 0.8
    read_interval: float = 0.01
    drain_timeout: float = 2.0


def run_refresh_ahead(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: RefreshParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Cold misses from every node, then reads inside the refresh window under latency:
    loads per key, refreshes in flight per key, read latency while refreshing."""
    params = params or RefreshParams()
    started = time.monotonic()
    world.reset()
    for key in params.keys:
        world.database.write(key, f"{key}#v1")
    world.database.hooks.read_latency = params.db_latency
    try:
        with Subjects(world, factory) as subjects:
            nodes = subjects.make(params.nodes)
            miss_end = _cold_misses(world, nodes, params)
            window_start = _into_refresh_window(world, params)
            with _slow_link(world, params.redis_latency_ms):
                _read_in_window(world, nodes, params)
            drained = _drain(nodes, params.drain_timeout)
            name = subject_name(nodes[0], contract.name)
    finally:
        world.database.hooks.read_latency = 0.0
    return _judge(world, contract, params, miss_end, window_start, drained, seed,
                  time.monotonic() - started, name)  # fmt: skip


def _cold_misses(world: World, nodes: list[Any], params: RefreshParams) -> float:
    """Every node reads every key at once; returns when all reads and refreshes are done."""
    barrier = threading.Barrier(len(nodes))

    def miss(node: Any, client: str) -> None:
        barrier.wait(30)
        for key in params.keys:
            recorded_read(world, client, node, key)

    with ThreadGroup() as group:
        for i, node in enumerate(nodes):
            group.start(f"ra-miss-{i}", functools.partial(miss, node, f"n{i}"))
    _drain(nodes, params.drain_timeout)
    return world.clock.now()


def _into_refresh_window(world: World, params: RefreshParams) -> float:
    """Cut every entry's TTL into the refresh window; a new miss episode for each key."""
    shorten_ttls(world, params.window_ms)
    for key in params.keys:
        world.history.note("expire", key=key)
    return world.clock.now()


@contextlib.contextmanager
def _slow_link(world: World, latency_ms: int) -> Any:
    if world.proxy is None or latency_ms <= 0:
        yield
        return
    with world.proxy.fault(Latency(latency_ms, stream=Direction.BOTH), history=world.history):
        yield


def _read_in_window(world: World, nodes: list[Any], params: RefreshParams) -> None:
    with ThreadGroup() as group:
        for i, node in enumerate(nodes):
            group.loop(f"ra-reader-{i}", _reader(world, node, f"n{i}", params.keys),
                       params.read_interval)  # fmt: skip
        group.stop.wait(params.duration)


def _reader(world: World, node: Any, client: str, keys: Sequence[str]) -> Any:
    def step(n: int) -> None:
        recorded_read(world, client, node, keys[n % len(keys)])

    return step


def _drain(nodes: list[Any], timeout: float) -> bool:
    return all(n.drain(timeout) for n in nodes if isinstance(n, Drainable))


def _judge(
    world: World,
    contract: Contract,
    params: RefreshParams,
    miss_end: float,
    window_start: float,
    drained: bool,
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    loads = world.database.loads()
    ops, events = world.history.ops, world.history.events
    check = check_single_flight(loads, ops, contract, events=events)
    cold = _per_key([ld for ld in loads if ld.at <= miss_end])
    hot = [ld for ld in loads if ld.at > window_start]
    in_flight = _max_in_flight(hot, params.db_latency)
    reads = [op for op in ops if op.kind is OpKind.READ and op.invoked_at > window_start]
    latencies = [op.completed_at - op.invoked_at for op in reads if op.completed_at is not None]
    measurements = {
        "miss_loads_per_key": cold,
        "refresh_loads_per_key": _per_key(hot),
        "max_refreshes_in_flight": in_flight,
        "reads_in_window": len(reads),
        "failed_reads": sum(not op.ok for op in reads),
        **{f"read_{k}": v for k, v in stats_ms(latencies).items()},
        "drained": drained,
    }
    t0 = window_start
    return build_result(
        "refresh_ahead", subject, checks=[check],
        findings=_refresh_findings(cold, in_flight, params),
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=[
            fig.series("Database loads in the refresh window", "time (s)", "loads per 50 ms",
                       fig.per_window([ld.at - t0 for ld in hot], start=0.0,
                                      end=params.duration + params.db_latency, width=0.05),
                       note=f"{len(hot)} loads for {len(params.keys)} keys"),
            fig.histogram("Read latency while refreshing", "ms",
                          [s * 1e3 for s in latencies], y_label="reads",
                          bound=params.db_latency * 1e3,
                          note="bound: one database read (a refresh must not make reads wait)"),
        ],
        seed=seed, seconds=seconds,
        description=f"{params.nodes} nodes miss on cold keys together, then read inside the "
        f"refresh window through a {params.redis_latency_ms} ms Redis link with "
        f"{params.db_latency * 1e3:.0f} ms database reads.",
    )  # fmt: skip


def _per_key(loads: Sequence[Load]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for ld in loads:
        counts[ld.key] += 1
    return dict(sorted(counts.items()))


def _max_in_flight(loads: Sequence[Load], latency: float) -> int:
    """Most loads of one key running at once. A load is recorded when the database answers,
    `latency` s (the injected read latency) after it began."""
    worst = 0
    for key in {ld.key for ld in loads}:
        edges = sorted([(ld.at - latency, 1) for ld in loads if ld.key == key]
                       + [(ld.at, -1) for ld in loads if ld.key == key])  # fmt: skip
        running = 0
        for _, step in edges:
            running += step
            worst = max(worst, running)
    return worst


def _refresh_findings(cold: dict[str, int], in_flight: int, params: RefreshParams) -> list[Finding]:
    found = []
    extra = {k: n for k, n in cold.items() if n > 1}
    if extra:
        found.append(scenario_finding(
            "no_refresh_on_miss", f"Cold misses loaded keys more than once ({extra}): a miss "
            "must load once and not schedule a refresh too.", checker=REFRESH,
            loads=extra))  # fmt: skip
    if in_flight > 1:
        found.append(scenario_finding(
            "one_refresh_in_flight", f"{in_flight} loads of one key ran at once in the refresh "
            "window; at most one refresh per key may be in flight.", checker=REFRESH,
            in_flight=in_flight))  # fmt: skip
    return found
