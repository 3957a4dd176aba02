"""A circuit breaker around the cache, through Redis slow, unreachable and healed again; and the
partition variant, where writes happen while the breaker is open and Redis keeps its data.

Both need a world with the fault proxy (`world.proxy`). Subjects that expose `breaker`
(a `CircuitBreaker`: `state`, `transitions`) get their state timeline reported; the
request log alone decides everything else: per request, its latency and how many Redis
commands it sent (counted at `world.io`), so a request answered from the database without
touching Redis is told apart from one that tried Redis.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cachecheck._contract import Contract
from cachecheck._history import OpKind
from cachecheck._model import SubjectFactory, _as_cache_contents
from cachecheck._world import World
from cachecheck.chaos import Down, Latency, blackhole, partition
from cachecheck.checkers import (
    CheckResult,
    Finding,
    check_convergence,
    check_read_your_writes,
    check_staleness,
)
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    IoGate,
    Subjects,
    ThreadGroup,
    describe_params,
    recorded_read,
    recorded_write,
    scenario_rng,
    stats_ms,
    subject_name,
    wait_until,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = ["BreakerParams", "BreakerPartitionParams", "run_breaker", "run_breaker_partition"]

BREAKER = "breaker"


@dataclass(frozen=True)
class BreakerParams:
    """`readers` threads share one subject and read `keys` every `read_interval` s, with the
    database taking `db_latency` s per read and Redis clients timing out after
    `socket_timeout` s. Phases: Redis slow (a `slow_latency_ms` latency toxic, above the
    socket timeout) until the breaker opens; unreachable (`outage`: "down" refuses
    connections, "blackhole" drops data; None: a seeded choice) for `outage_for` s; healed
    until the breaker closes, then `after_close` s more."""

    readers: int = 3
    keys: tuple[str, ...] = ("k0", "k1", "k2")
    read_interval: float = 0.01
    socket_timeout: float = 0.25
    slow_latency_ms: int = 600
    db_latency: float = 0.01
    outage: str | None = None
    outage_for: float = 2.5
    open_timeout: float = 10.0
    close_timeout: float = 10.0
    after_close: float = 0.3
    open_slack: float = 1.0
    fallback_slack: float = 0.1
    close_slack: float = 1.0


@dataclass(frozen=True)
class _Request:
    started: float
    seconds: float
    redis_commands: int
    ok: bool


class _RequestLog:
    """Reader threads append every request; each counted its own Redis commands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[_Request] = []

    def add(self, request: _Request) -> None:
        with self._lock:
            self.requests.append(request)

    def between(self, start: float, end: float) -> list[_Request]:
        with self._lock:
            return [r for r in self.requests if start <= r.started < end]


@dataclass
class _Phases:
    t0: float
    slow: float = 0.0
    opened: float | None = None
    outage: float = 0.0
    healed: float = 0.0
    closed: float | None = None
    end: float = 0.0


def _state(subject: Any) -> str | None:
    breaker = getattr(subject, "breaker", None)
    state = getattr(breaker, "state", None)
    return None if state is None else str(getattr(state, "value", state))


@contextlib.contextmanager
def _short_timeouts(world: World, seconds: float) -> Iterator[None]:
    """Clients made in the block time out after `seconds` (recorded in `world.describe()`)."""
    saved = world.settings
    world.settings = replace(saved, socket_timeout=seconds, connect_timeout=seconds)
    try:
        yield
    finally:
        world.settings = saved


def _readers(
    world: World,
    group: ThreadGroup,
    gate: IoGate,
    subject: Any,
    keys: Sequence[str],
    count: int,
    interval: float,
    seed: int,
    log: _RequestLog,
) -> None:
    for i in range(count):
        rng = scenario_rng(f"breaker.reader{i}", seed)

        def step(_n: int, rng: Any = rng, client: str = f"r{i}") -> None:
            name = threading.current_thread().name
            before = gate.redis_commands[name]
            read = recorded_read(world, client, subject, rng.choice(keys))
            log.add(_Request(read.started, read.seconds, gate.redis_commands[name] - before,
                             read.ok))  # fmt: skip

        group.loop(f"breaker-reader-{i}", step, interval)


# -- slow, unreachable, healed ------------------------------------------------------------------


def run_breaker(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: BreakerParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Redis slow, then unreachable, then healed: how fast and after how many failures the
    breaker opens, how fast requests are while it is open, its half-open probes, its close."""
    params = params or BreakerParams()
    if world.proxy is None:
        raise ValueError("run_breaker needs a world with the fault proxy (world.proxy)")
    outage = params.outage or str(scenario_rng("breaker", seed).choice(("down", "blackhole")))
    started = time.monotonic()
    world.reset()
    log = _RequestLog()
    with _short_timeouts(world, params.socket_timeout), Subjects(world, factory) as subjects:
        subject = subjects.one()
        described = world.describe()
        for key in params.keys:
            recorded_write(world, "setup", subject, key, f"{key}#v1")
            recorded_read(world, "setup", subject, key)
        world.database.hooks.read_latency = params.db_latency
        try:
            phases = _play_breaker(world, subject, params, outage, seed, log)
        finally:
            world.database.hooks.read_latency = 0.0
        transitions = list(getattr(getattr(subject, "breaker", None), "transitions", ()))
        name = subject_name(subject, contract.name)
    return _judge_breaker(world, contract, params, outage, phases, log, transitions, described,
                          seed, time.monotonic() - started, name)  # fmt: skip


def _play_breaker(
    world: World, subject: Any, params: BreakerParams, outage: str, seed: int, log: _RequestLog
) -> _Phases:
    proxy = world.proxy
    history = world.history
    ph = _Phases(world.clock.now())
    with ThreadGroup() as group, IoGate(world) as gate, contextlib.ExitStack() as faults:
        _readers(world, group, gate, subject, params.keys, params.readers, params.read_interval,
                 seed, log)  # fmt: skip
        slow = faults.enter_context(contextlib.ExitStack())
        slow.enter_context(proxy.fault(Latency(params.slow_latency_ms), history=history))
        ph.slow = world.clock.now()
        if wait_until(lambda: _state(subject) == "open", params.open_timeout):
            ph.opened = world.clock.now()
        slow.close()
        ph.outage = world.clock.now()
        down = faults.enter_context(contextlib.ExitStack())
        down.enter_context(proxy.fault(Down() if outage == "down" else blackhole(),
                                       history=history))  # fmt: skip
        time.sleep(params.outage_for)
        down.close()
        ph.healed = history.note("healed").at
        if wait_until(lambda: _state(subject) == "closed", params.close_timeout):
            ph.closed = world.clock.now()
        time.sleep(params.after_close)
        ph.end = world.clock.now()
    return ph


def _judge_breaker(
    world: World,
    contract: Contract,
    params: BreakerParams,
    outage: str,
    ph: _Phases,
    log: _RequestLog,
    transitions: list[Any],
    described: dict[str, Any],
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    opened = ph.opened if ph.opened is not None else ph.outage
    # Requests that tried Redis while it was slow (those in flight when it turned slow too).
    slow = [r for r in log.between(ph.t0, opened)
            if r.redis_commands and r.started + r.seconds >= ph.slow]  # fmt: skip
    open_requests = [r for r in log.between(opened, ph.healed) if r.redis_commands == 0]
    attempts = [r for r in log.between(ph.outage, ph.healed) if r.redis_commands > 0]
    probe_sizes = _clusters([r.started for r in attempts], _reset_timeout(contract) / 2)
    failures = [r for r in slow if r.seconds >= 0.9 * params.socket_timeout]
    open_lat = stats_ms([r.seconds for r in open_requests])
    measurements = {
        "outage": outage,
        "time_to_open_s": None if ph.opened is None else round(ph.opened - ph.slow, 3),
        "failures_to_open": len(failures),
        **{f"slow_{k}": v for k, v in stats_ms([r.seconds for r in slow]).items()},
        **{f"open_{k}": v for k, v in open_lat.items()},
        "open_requests": len(open_requests),
        "redis_attempts_while_unreachable": len(attempts),
        "max_attempts_per_probe": max(probe_sizes, default=0),
        "time_to_close_s": None if ph.closed is None else round(ph.closed - ph.healed, 3),
        "failed_requests": sum(not r.ok for r in log.requests),
        "requests": len(log.requests),
    }
    findings = _breaker_findings(contract, params, ph, open_lat, probe_sizes)
    return build_result(
        "breaker", subject, findings=findings,
        parameters={**describe_params(params), "outage": outage, "world": described,
                    "policy": contract.describe()["breaker"]},
        measurements=measurements, figures=_breaker_figures(ph, log, transitions, params),
        seed=seed, seconds=seconds,
        description=f"Redis slow ({params.slow_latency_ms} ms latency, socket timeout "
        f"{params.socket_timeout * 1e3:.0f} ms), then {outage} for {params.outage_for:g} s, "
        "then healed, under steady reads.",
    )  # fmt: skip


def _reset_timeout(contract: Contract) -> float:
    return contract.breaker.reset_timeout if contract.breaker is not None else 1.0


def _clusters(times: Sequence[float], gap: float) -> list[int]:
    """Sizes of groups of times closer than `gap` to the previous one (probes come alone)."""
    sizes: list[int] = []
    last = -math.inf
    for t in sorted(times):
        if t - last < gap:
            sizes[-1] += 1
        else:
            sizes.append(1)
        last = t
    return sizes


def _breaker_findings(
    contract: Contract,
    params: BreakerParams,
    ph: _Phases,
    open_lat: dict[str, float | None],
    probe_sizes: list[int],
) -> list[Finding]:
    policy = contract.breaker
    if policy is None:
        return []
    found = []
    open_bound = policy.failure_threshold * params.socket_timeout + params.open_slack
    if ph.opened is None or ph.opened - ph.slow > open_bound:
        found.append(scenario_finding(
            "opens", f"The breaker did not open within {open_bound:.2f} s of Redis turning slow "
            f"({policy.failure_threshold} failures of {params.socket_timeout:g} s, plus slack).",
            checker=BREAKER, bound_s=open_bound))  # fmt: skip
    p50 = open_lat["p50_ms"]
    fast = (params.db_latency + params.fallback_slack) * 1e3
    if p50 is not None and p50 > fast:
        found.append(scenario_finding(
            "fast_fallback", f"While open, requests took {p50:.0f} ms (median); they must be "
            f"answered from the database at once (bound {fast:.0f} ms), not wait for Redis.",
            checker=BREAKER, p50_ms=p50, bound_ms=fast))  # fmt: skip
    if max(probe_sizes, default=0) > 1:
        found.append(scenario_finding(
            "half_open_single_probe", f"While Redis was unreachable, up to "
            f"{max(probe_sizes)} requests tried it at once after a reset timeout; half-open "
            "must let exactly one probe through.", checker=BREAKER,
            attempts=probe_sizes))  # fmt: skip
    close_bound = 2 * policy.reset_timeout + params.close_slack
    if ph.closed is None or ph.closed - ph.healed > close_bound:
        found.append(scenario_finding(
            "closes_after_heal", f"The breaker did not close within {close_bound:.2f} s of "
            "Redis healing (two reset timeouts: the first probe may meet a connection the "
            "fault closed).", checker=BREAKER, bound_s=close_bound))  # fmt: skip
    return found


def _breaker_figures(
    ph: _Phases, log: _RequestLog, transitions: list[Any], params: BreakerParams
) -> list[dict[str, Any] | None]:
    changes = [(0.0, "closed")] + [
        (t.at - ph.t0, str(getattr(t.after, "value", t.after))) for t in transitions
    ]
    markers = [(ph.slow - ph.t0, "slow"), (ph.outage - ph.t0, "unreachable"),
               (ph.healed - ph.t0, "healed")]  # fmt: skip
    points = [(r.started - ph.t0, r.seconds * 1e3) for r in log.requests]
    open_values = [r.seconds * 1e3 for r in log.between(ph.opened or ph.outage, ph.healed)
                   if r.redis_commands == 0]  # fmt: skip
    return [
        fig.states("Breaker state", changes, ph.end - ph.t0),
        fig.series("Request latency", "time (s)", "ms", sorted(points), markers=markers,
                   note="every read; the fallback path skips Redis entirely"),
        fig.histogram("Latency while open", "ms", open_values, y_label="requests",
                      bound=params.db_latency * 1e3, note="bound: one database read"),
    ]  # fmt: skip


# -- the partition variant ------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakerPartitionParams:
    """Readers share one subject; Redis is partitioned (data dropped both ways, the server
    keeps its data) until the breaker opens; a writer then writes every key (the database
    commits, the invalidation cannot reach Redis); the partition heals; reading goes on
    `after_close` s past the close. Reads invoked after the close must never be stale."""

    readers: int = 3
    keys: tuple[str, ...] = ("k0", "k1", "k2")
    read_interval: float = 0.01
    socket_timeout: float = 0.25
    db_latency: float = 0.005
    open_timeout: float = 10.0
    close_timeout: float = 10.0
    after_close: float = 0.5


def run_breaker_partition(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: BreakerPartitionParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Writes while the breaker is open and Redis keeps its (now stale) data: no stale read
    after recovery, read-your-writes for the writer, convergence at the end."""
    params = params or BreakerPartitionParams()
    if world.proxy is None:
        raise ValueError("run_breaker_partition needs a world with the fault proxy")
    started = time.monotonic()
    world.reset()
    log = _RequestLog()
    with _short_timeouts(world, params.socket_timeout), Subjects(world, factory) as subjects:
        subject = subjects.one()
        described = world.describe()
        for key in params.keys:
            recorded_write(world, "writer", subject, key, f"{key}#v1")
            recorded_read(world, "writer", subject, key)  # cached: the partition keeps it
        world.database.hooks.read_latency = params.db_latency
        try:
            ph = _play_partition(world, subject, params, seed, log)
        finally:
            world.database.hooks.read_latency = 0.0
        for key in params.keys:
            recorded_read(world, "final", subject, key)
        name = subject_name(subject, contract.name)
    return _judge_partition(world, contract, params, ph, described, seed,
                            time.monotonic() - started, name)  # fmt: skip


def _play_partition(
    world: World, subject: Any, params: BreakerPartitionParams, seed: int, log: _RequestLog
) -> _Phases:
    ph = _Phases(world.clock.now())
    with ThreadGroup() as group, IoGate(world) as gate:
        _readers(world, group, gate, subject, params.keys, params.readers, params.read_interval,
                 seed, log)  # fmt: skip
        with world.proxy.fault(partition(), history=world.history):
            ph.slow = ph.outage = world.clock.now()
            if wait_until(lambda: _state(subject) == "open", params.open_timeout):
                ph.opened = world.clock.now()
            for key in params.keys:
                recorded_write(world, "writer", subject, key, f"{key}#v2")
        ph.healed = world.history.note("healed").at
        if wait_until(lambda: _state(subject) == "closed", params.close_timeout):
            ph.closed = world.clock.now()
        time.sleep(params.after_close)
        for key in params.keys:
            recorded_read(world, "writer", subject, key)
        ph.end = world.clock.now()
    return ph


def _judge_partition(
    world: World,
    contract: Contract,
    params: BreakerPartitionParams,
    ph: _Phases,
    described: dict[str, Any],
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    ops, commits = world.history.ops, world.database.commits()
    recovered = ph.closed if ph.closed is not None else ph.healed
    after = [op for op in ops if op.kind is not OpKind.READ or op.invoked_at >= recovered]
    staleness = check_staleness(after, commits, contract.evolve(staleness_bound=0.0))
    checks: list[CheckResult] = [
        _renamed(staleness, "staleness_after_recovery"),
        check_read_your_writes(ops, commits, contract),
        _final_convergence(world, contract, ops, commits),
    ]
    m = staleness.measurements
    measurements = {
        "time_to_open_s": None if ph.opened is None else round(ph.opened - ph.slow, 3),
        "time_to_close_s": None if ph.closed is None else round(ph.closed - ph.healed, 3),
        "reads_after_recovery": m["reads"],
        "stale_reads_after_recovery": m["stale_reads"],
        "max_staleness_after_recovery_ms": None if m["max_staleness_s"] is None
        else round(m["max_staleness_s"] * 1e3, 3),
        "writes_while_open": len(params.keys),
    }  # fmt: skip
    stale = [(op.invoked_at - ph.t0, 1.0 if _is_stale(op, commits) else 0.0)
             for op in ops if op.kind is OpKind.READ and op.ok]  # fmt: skip
    return build_result(
        "breaker_partition", subject, checks=checks,
        parameters={**describe_params(params), "world": described},
        measurements=measurements,
        figures=[fig.series("Stale reads (1 = stale)", "time (s)", "stale", stale,
                            markers=[(ph.healed - ph.t0, "healed")] + (
                                [] if ph.closed is None else [(ph.closed - ph.t0, "closed")]))],
        seed=seed, seconds=seconds,
        description="Redis partitioned (it keeps its data) until the breaker opens; writes "
        "while open; healed: no read after recovery may be stale.",
    )  # fmt: skip


def _renamed(result: CheckResult, checker: str) -> CheckResult:
    findings = tuple(replace(f, checker=checker) for f in result.findings)
    return replace(result, checker=checker, findings=findings)


def _is_stale(op: Any, commits: Sequence[Any]) -> bool:
    """Whether a read returned a value older than the key's latest commit before it began."""
    latest = None
    for c in commits:
        if c.key == op.key and c.committed_at <= op.invoked_at:
            latest = c.value
    return bool(op.value != latest)


def _final_convergence(
    world: World, contract: Contract, ops: Sequence[Any], commits: Sequence[Any]
) -> CheckResult:
    served = {op.key: op.value for op in ops if op.client == "final" and op.ok}
    final_db = world.database.snapshot()
    return check_convergence(_as_cache_contents(served, final_db), final_db, contract,
                             ops=ops, commits=commits)  # fmt: skip
