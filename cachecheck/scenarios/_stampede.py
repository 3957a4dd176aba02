"""Stampedes: a hot key misses while many clients (threads and processes) read it with the
database made slow; a lock holder dies mid-load; a holder outlasts its lock.

`run_stampede` reports database loads per miss episode (1 with a working lock, about N
without), waiter latency and how many Redis commands waiters spend per second (a busy spin
shows thousands). `run_stampede_holder_crash` SIGKILLs a holder stuck in its load: waiters
must recover within the lock TTL plus a bound. `run_stampede_lock_overrun` makes a holder
outlast its lock while another takes it over: a release must never delete the other
holder's lock (the plain-`DEL` bug), checked over the subjects' lock events.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachecheck._contract import Contract
from cachecheck._model import SubjectFactory
from cachecheck._world import World
from cachecheck.checkers import (
    CheckResult,
    Finding,
    check_mutual_exclusion,
    check_single_flight,
    check_ttl_hygiene,
)
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    IoGate,
    Subjects,
    ThreadGroup,
    describe_params,
    lock_history,
    recorded_read,
    recorded_write,
    scenario_rng,
    shorten_ttls,
    stats_ms,
    subject_name,
    wait_until,
)
from cachecheck.scenarios._processes import (
    CHILD_TIMEOUT,
    ChildFailure,
    ChildRead,
    ChildReady,
    ChildSummary,
    ChildWorld,
    check_importable,
    drop_child_tables,
    join_or_kill,
    spawn,
    stampede_child,
    stuck_holder_child,
    wait_for_child,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = [
    "HolderCrashParams",
    "LockOverrunParams",
    "StampedeParams",
    "plain_cache_aside",
    "run_stampede",
    "run_stampede_holder_crash",
    "run_stampede_lock_overrun",
]


def plain_cache_aside(world: World) -> Any:
    """The unprotected baseline (textbook cache-aside, no lock), importable for processes."""
    from cachecheck.strategies.cache_aside import CacheAside

    return CacheAside(world.client(), world.database, world.namespace, clock=world.clock)


# -- the stampede ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StampedeParams:
    """`threads` clients in this process and `processes` in their own (spawned), each with
    its own subject (separate application nodes), read `key` together once per round, right
    after a seeded trigger (`invalidate`: a write through the cache; `expire`: the entry's TTL
    cut to 1 ms). The database read takes `db_latency` s in every process. A waiter spending
    more than `max_poll_rate` Redis commands per second of waiting is a busy spin."""

    threads: int = 6
    processes: int = 0
    rounds: int = 3
    db_latency: float = 0.3
    key: str = "hot"
    triggers: tuple[str, ...] = ("invalidate", "expire")
    max_poll_rate: float = 200.0
    round_timeout: float = 30.0


@dataclass
class _Rounds:
    reads: list[ChildRead]
    summaries: list[ChildSummary]
    triggers: list[str]
    t0: float


def run_stampede(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: StampedeParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """A hot key misses under N concurrent readers and a slow database, `rounds` times."""
    params = params or StampedeParams()
    if params.processes:
        check_importable(factory)
    started = time.monotonic()
    world.reset()
    with Subjects(world, factory) as subjects:
        nodes = subjects.make(params.threads)
        recorded_write(world, "trigger", nodes[0], params.key, f"{params.key}#seed")
        recorded_read(world, "prime", nodes[0], params.key)  # cached: the first episode
        world.database.hooks.read_latency = params.db_latency
        try:
            rounds = _play_rounds(world, factory, nodes, params, seed)
        finally:
            world.database.hooks.read_latency = 0.0
        lock_events = [e for n in nodes for e in getattr(n, "lock_events", ())]
        seconds = time.monotonic() - started
        return _judge_stampede(world, contract, params, rounds, lock_events, seed, seconds,
                               subject_name(nodes[0], contract.name))  # fmt: skip


def _play_rounds(
    world: World, factory: SubjectFactory, nodes: list[Any], params: StampedeParams, seed: int
) -> _Rounds:
    ctx = spawn()
    clients = params.threads + params.processes
    start = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    spec = ChildWorld.of(world)
    children = [
        ctx.Process(target=stampede_child, name=f"cachecheck-stampede-p{i}", daemon=True,
                    args=(spec, factory, f"p{i}", params.key, params.rounds, params.db_latency,
                          start, results))
        for i in range(params.processes)
    ]  # fmt: skip
    rng = scenario_rng("stampede", seed)
    played = _Rounds([], [], [], world.clock.now())
    inbox = _Inbox(results, children)
    finished = False
    try:
        for child in children:
            child.start()
        inbox.take(ChildReady, params.processes, CHILD_TIMEOUT)
        with ThreadGroup() as group, IoGate(world) as gate:
            for i, node in enumerate(nodes):
                group.start(
                    f"stampede-t{i}",
                    _thread_client(world, gate, node, f"t{i}", params, start, results),
                )
            try:
                for r in range(params.rounds):
                    played.triggers.append(_trigger(world, nodes[0], params, r, rng))
                    start.wait(params.round_timeout)
                    played.reads += inbox.take(ChildRead, clients, params.round_timeout)
            except BaseException:
                start.abort()  # frees every client still waiting for a round
                raise
        played.summaries = inbox.take(ChildSummary, params.processes, params.round_timeout)
        finished = True
    finally:
        join_or_kill(children, 10.0)
        for child in children:
            if child.exitcode not in (0, None) and child.pid is not None:
                drop_child_tables(world.database.url, child.pid)
        if not finished:  # unread results must not keep this process's feeder thread alive
            results.cancel_join_thread()
        results.close()
        results.join_thread()
    return played


def _thread_client(
    world: World,
    gate: IoGate,
    node: Any,
    client: str,
    params: StampedeParams,
    start: Any,
    results: Any,
) -> Any:
    def run() -> None:
        name = threading.current_thread().name
        for r in range(params.rounds):
            try:
                start.wait(CHILD_TIMEOUT)
            except threading.BrokenBarrierError:
                return  # the coordinator gave up; it reports why
            commands, loads = gate.redis_commands[name], len(gate.db_reads[name])
            read = recorded_read(world, client, node, params.key)
            results.put(ChildRead(r, client, read.value, read.ok, read.started, read.seconds,
                                  gate.redis_commands[name] - commands,
                                  len(gate.db_reads[name]) - loads))  # fmt: skip

    return run


def _trigger(world: World, node: Any, params: StampedeParams, round_: int, rng: Any) -> str:
    """Start a miss episode: a write through the cache, or the entry's expiry."""
    key = params.key
    trigger = str(rng.choice(params.triggers))
    if trigger == "invalidate":
        recorded_write(world, "trigger", node, key, f"{key}#r{round_}")
        return trigger
    expired = shorten_ttls(world, 1)
    wait_until(lambda: not set(expired) & set(world.keyspace.pttls()), 2.0, 0.002)
    world.history.note("expire", key=key, keys=len(expired))
    return trigger


class _Inbox:
    """The results queue, sorted by kind (a child's summary may arrive before the last
    round's reads of slower clients). A `ChildFailure`, or a child that died, fails the
    scenario at once with the child's traceback or exit code."""

    def __init__(self, results: Any, children: Sequence[Any]) -> None:
        self._results = results
        self._children = children
        self._early: list[Any] = []

    def take(self, kind: type[Any], count: int, timeout: float) -> list[Any]:
        found = [item for item in self._early if isinstance(item, kind)][:count]
        for item in found:
            self._early.remove(item)
        deadline = time.monotonic() + timeout
        while len(found) < count:
            try:
                item = self._results.get(timeout=0.25)
            except queue.Empty:
                self._check(kind, len(found), count, deadline, timeout)
                continue
            if isinstance(item, ChildFailure):
                raise RuntimeError(f"stampede client {item.client} failed:\n{item.error}")
            (found if isinstance(item, kind) else self._early).append(item)
        return found

    def _check(
        self, kind: type[Any], have: int, count: int, deadline: float, timeout: float
    ) -> None:
        dead = [f"{c.name} (exit code {c.exitcode})" for c in self._children
                if c.exitcode is not None and c.exitcode != 0]  # fmt: skip
        if dead:
            raise RuntimeError(f"stampede client processes died: {', '.join(dead)}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"stampede clients reported {have} of {count} "
                               f"{kind.__name__}s within {timeout} s")  # fmt: skip


def _judge_stampede(
    world: World,
    contract: Contract,
    params: StampedeParams,
    rounds: _Rounds,
    lock_events: list[Any],
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    loads = world.database.loads() + [ld for s in rounds.summaries for ld in s.loads]
    events = world.history.events
    checks = [check_single_flight(loads, world.history.ops, contract, events=events)]
    all_lock_events = lock_events + [e for s in rounds.summaries for e in s.lock_events]
    if all_lock_events:
        holds, releases = lock_history(all_lock_events)
        checks.append(check_mutual_exclusion(holds, releases))
    waiters = [r for r in rounds.reads if r.db_reads == 0 and r.ok]
    rate = _poll_rate(waiters)
    findings = _spin_finding(rate, params.max_poll_rate, waiters)
    per_round = [
        sum(r.db_reads for r in rounds.reads if r.round == i) for i in range(params.rounds)
    ]
    sf = checks[0].measurements
    measurements = {
        "clients": params.threads + params.processes,
        "threads": params.threads,
        "processes": params.processes,
        "loads_per_round": per_round,
        "max_loads_per_episode": max(per_round, default=0),
        "mean_loads_per_episode": round(sum(per_round) / max(1, len(per_round)), 3),
        "checker_max_loads_per_episode": sf["max_loads_per_episode"],
        "failed_reads": sum(not r.ok for r in rounds.reads),
        "waiters": len(waiters),
        **{f"waiter_{k}": v for k, v in stats_ms([r.seconds for r in waiters]).items()},
        "waiter_polls_max": max((r.redis_commands for r in waiters), default=0),
        "waiter_redis_commands_per_s": rate,
        "triggers": rounds.triggers,
    }
    return build_result(
        "stampede", subject, checks=checks, findings=findings,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements, figures=_stampede_figures(rounds, loads, events, params),
        seed=seed, seconds=seconds,
        description=f"{params.threads} threads and {params.processes} processes read a hot key "
        f"together after it expired or was invalidated, {params.rounds} times, with database "
        f"reads taking {params.db_latency * 1e3:.0f} ms.",
    )  # fmt: skip


def _poll_rate(waiters: Sequence[ChildRead]) -> float:
    waited = sum(r.seconds for r in waiters)
    return round(sum(r.redis_commands for r in waiters) / waited, 1) if waited > 0.05 else 0.0


def _spin_finding(rate: float, limit: float, waiters: Sequence[ChildRead]) -> list[Finding]:
    if rate <= limit:
        return []
    return [scenario_finding(
        "no_busy_spin", f"Waiters sent {rate:.0f} Redis commands per second of waiting (limit "
        f"{limit:.0f}/s): they poll without backing off.", rate=rate, limit=limit,
        waiters=len(waiters))]  # fmt: skip


def _stampede_figures(
    rounds: _Rounds, loads: Sequence[Any], events: Sequence[Any], params: StampedeParams
) -> list[dict[str, Any] | None]:
    per_round = [
        (f"round {i + 1} ({t})", float(sum(r.db_reads for r in rounds.reads if r.round == i)))
        for i, t in enumerate(rounds.triggers)
    ]
    times = [ld.at - rounds.t0 for ld in loads]
    end = max(times, default=0.0)
    markers = [(e.at - rounds.t0, e.name) for e in events if e.name == "expire"]
    return [
        fig.bars("Database loads per miss episode", "loads", per_round,
                 note=f"{params.threads + params.processes} concurrent readers per round"),
        fig.histogram("Waiter latency", "ms", [r.seconds * 1e3 for r in rounds.reads
                                               if r.db_reads == 0 and r.ok],
                      y_label="reads", bound=params.db_latency * 1e3,
                      note="reads that did not load themselves; bound: one database load"),
        fig.histogram("Redis commands per waiting read", "commands",
                      [float(r.redis_commands) for r in rounds.reads if r.db_reads == 0],
                      y_label="reads"),
        fig.series("Database loads over time", "time (s)", "loads per 50 ms",
                   fig.per_window(times, start=0.0, end=end, width=0.05), markers=markers),
    ]  # fmt: skip


# -- a lock holder dies mid-load --------------------------------------------------------------


@dataclass(frozen=True)
class HolderCrashParams:
    """A holder (its own process) takes whatever the subject takes on a miss and hangs in its
    database read until SIGKILLed; then `waiters` threads read the key. Every waiter must
    return within the lock TTL (`lock_ttl`, default the contract's `extra["lock_ttl"]`) plus
    `recovery_slack`, counted from the moment the holder was loading."""

    waiters: int = 5
    key: str = "hot"
    db_latency: float = 0.05
    lock_ttl: float | None = None
    recovery_slack: float = 2.0
    start_timeout: float = 120.0


def run_stampede_holder_crash(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: HolderCrashParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """SIGKILL a lock holder mid-load; waiters recover within lock TTL + a bound, loading once."""
    params = params or HolderCrashParams()
    lock_ttl = params.lock_ttl if params.lock_ttl is not None else contract.extra.get("lock_ttl")
    if lock_ttl is None:
        raise ValueError(
            "pass HolderCrashParams(lock_ttl=...) or a contract with extra['lock_ttl']"
        )
    check_importable(factory)
    started = time.monotonic()
    world.reset()
    world.database.write(params.key, f"{params.key}#v1")
    loading_at = _kill_stuck_holder(world, factory, params)
    world.database.hooks.read_latency = params.db_latency
    try:
        with Subjects(world, factory) as subjects, ThreadGroup() as group:
            nodes = subjects.make(params.waiters)
            for i, node in enumerate(nodes):
                read = functools.partial(recorded_read, world, f"waiter{i}", node, params.key)
                group.start(f"waiter-{i}", read)
            group.join()
            lock_events = [e for n in nodes for e in getattr(n, "lock_events", ())]
            subject = subject_name(nodes[0], contract.name)
    finally:
        world.database.hooks.read_latency = 0.0
    return _judge_holder_crash(world, contract, params, float(lock_ttl), loading_at, lock_events,
                               seed, time.monotonic() - started, subject)  # fmt: skip


def _kill_stuck_holder(world: World, factory: SubjectFactory, params: HolderCrashParams) -> float:
    """Start the holder, wait until it is inside its load, SIGKILL it; returns when it was
    loading (on the world's clock)."""
    ctx = spawn()
    loading, errors = ctx.Event(), ctx.Queue()
    args = (ChildWorld.of(world), factory, params.key, loading, errors)
    holder = ctx.Process(target=stuck_holder_child, name="cachecheck-stuck-holder", daemon=True,
                         args=args)  # fmt: skip
    holder.start()
    try:
        wait_for_child(loading.is_set, holder, errors, params.start_timeout, "loading")
        loading_at = world.clock.now()
        holder.kill()
        holder.join(10)
        world.history.note("lock_holder_crash", pid=holder.pid)
        return loading_at
    finally:
        join_or_kill([holder], 0.0)
        if holder.pid is not None:
            drop_child_tables(world.database.url, holder.pid)
        errors.close()
        errors.join_thread()


def _judge_holder_crash(
    world: World,
    contract: Contract,
    params: HolderCrashParams,
    lock_ttl: float,
    loading_at: float,
    lock_events: list[Any],
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    reads = [op for op in world.history.ops if op.client.startswith("waiter")]
    done = [op.completed_at - loading_at for op in reads if op.completed_at is not None]
    bound = lock_ttl + params.recovery_slack
    recovered = max(done, default=float("inf"))
    findings = []
    if recovered > bound or len(done) < params.waiters or not all(op.ok for op in reads):
        findings.append(scenario_finding(
            "lock_liveness", f"Waiters recovered {recovered:.2f} s after the holder died "
            f"mid-load ({sum(op.ok for op in reads)} of {params.waiters} reads succeeded); "
            f"they must return within the lock TTL plus {params.recovery_slack:g} s "
            f"({bound:.2f} s).", recovered_s=recovered, bound_s=bound))  # fmt: skip
    loads = world.database.loads()
    checks: list[CheckResult] = [
        check_single_flight(loads, world.history.ops, contract, events=world.history.events),
        check_ttl_hygiene(world.keyspace.pttls(), contract),
    ]
    if lock_events:
        checks.append(check_mutual_exclusion(*lock_history(lock_events)))
    measurements = {
        "lock_ttl_s": lock_ttl,
        "recovered_after_s": round(recovered, 4),
        "recovery_bound_s": bound,
        "waiter_loads": len(loads),
        **{f"waiter_{k}": v for k, v in stats_ms([op.completed_at - op.invoked_at for op in reads
                                                   if op.completed_at is not None]).items()},
    }  # fmt: skip
    return build_result(
        "stampede_holder_crash", subject, checks=checks, findings=findings,
        parameters={**describe_params(params), "lock_ttl": lock_ttl, "world": world.describe()},
        measurements=measurements,
        figures=[fig.histogram("Waiter recovery after the holder died", "s since the holder was "
                               "loading", done, y_label="waiters", bound=bound)],
        seed=seed, seconds=seconds,
        description="A lock holder SIGKILLed in the middle of its database load; waiters must "
        "take over within the lock TTL plus a bound, and load once.",
    )  # fmt: skip


# -- a holder outlasts its lock ---------------------------------------------------------------


@dataclass(frozen=True)
class LockOverrunParams:
    """Holder A stalls in its load past the lock TTL (`lock_ttl`, default the contract's
    `extra["lock_ttl"]`, plus `expiry_margin`); B takes the expired lock and stalls too; A
    finishes and releases; then C misses while B still holds a valid lock. C is given
    `contender_wait` s to (wrongly) get in before B is let go."""

    key: str = "hot"
    lock_ttl: float | None = None
    expiry_margin: float = 0.1
    contender_wait: float = 0.3
    step_timeout: float = 15.0


def run_stampede_lock_overrun(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: LockOverrunParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """A load outlasts its lock: the late holder's release must not delete the next holder's
    lock (compare-and-delete), and no two holders may hold it at once. Every step is driven by
    the I/O gate (threads held at their database read), not by sleeps, except the wait for
    the lock to expire in Redis."""
    params = params or LockOverrunParams()
    lock_ttl = params.lock_ttl if params.lock_ttl is not None else contract.extra.get("lock_ttl")
    if lock_ttl is None:
        raise ValueError("pass LockOverrunParams(lock_ttl=...) or a contract with "
                         "extra['lock_ttl']")  # fmt: skip
    started = time.monotonic()
    world.reset()
    world.database.write(params.key, f"{params.key}#v1")
    with Subjects(world, factory) as subjects:
        a, b, c = subjects.make(3)
        steps = _overrun(world, (a, b, c), float(lock_ttl), params)
        events = [e for n in (a, b, c) for e in getattr(n, "lock_events", ())]
        subject = subject_name(a, contract.name)
    holds, releases = lock_history(events)
    check = check_mutual_exclusion(holds, releases)
    measurements = {
        "lock_ttl_s": lock_ttl,
        **steps,
        "lock_events": len(events),
        "foreign_releases": check.measurements["foreign_releases"],
        "overlaps": check.measurements["overlaps"],
        "max_overlap_ms": round(check.measurements["max_overlap_s"] * 1e3, 3),
    }
    t0 = min((h.acquired_at for h in holds), default=0.0)
    segments = [(h.acquired_at - t0, h.holder) for h in holds]
    return build_result(
        "stampede_lock_overrun", subject, checks=[check],
        parameters={**describe_params(params), "lock_ttl": lock_ttl, "world": world.describe()},
        measurements=measurements,
        figures=[fig.states("Lock holders (by acquisition)", segments,
                            max((h.valid_until - t0 for h in holds), default=0.0))],
        seed=seed, seconds=time.monotonic() - started,
        description="A holder's load outlasts its lock TTL while another client takes the "
        "lock over; its release must delete only its own lock.",
    )  # fmt: skip


def _overrun(
    world: World, nodes: tuple[Any, Any, Any], lock_ttl: float, params: LockOverrunParams
) -> dict[str, Any]:
    a, b, c = nodes
    key, timeout = params.key, params.step_timeout
    with ThreadGroup() as group, IoGate(world) as gate:
        a_loading = gate.hold_at_db_read("overrun-A")
        a_done = group.start("overrun-A", lambda: recorded_read(world, "A", a, key))
        _expect(a_loading.wait(timeout), "A never started loading")
        time.sleep(lock_ttl + params.expiry_margin)  # A's lock expires in Redis meanwhile
        b_loading = gate.hold_at_db_read("overrun-B")
        group.start("overrun-B", lambda: recorded_read(world, "B", b, key))
        _expect(b_loading.wait(timeout + lock_ttl), "B never took over the expired lock")
        gate.release("overrun-A")
        a_done.join(timeout)
        c_loading = gate.hold_at_db_read("overrun-C")
        asked = time.monotonic()
        group.start("overrun-C", lambda: recorded_read(world, "C", c, key))
        c_got_in = c_loading.wait(params.contender_wait)
        time.sleep(max(0.0, asked + params.contender_wait - time.monotonic()))  # overlap shows
        gate.release_all()
    return {"c_loaded_while_b_held": c_got_in}


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise RuntimeError(f"stampede_lock_overrun: {message}")
