"""The stateful model: Hypothesis drives a subject with client operations, interleavings,
time, evictions and faults, records a history, and checks it against the subject's contract.

`build_machine()` returns a `RuleBasedStateMachine` class bound to one world and one subject
factory; `run_model()` runs it and returns a `ModelOutcome` (passed, or the violation with the
shrunk, replayable steps).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import redis
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cachecheck._clock import ManualClock, OffsetClock
from cachecheck._contract import Contract
from cachecheck._database import DatabaseUnavailable
from cachecheck._history import OpKind
from cachecheck._interleave import Interleaver
from cachecheck._redis_server import RedisServer
from cachecheck._subject import (
    Closeable,
    Drainable,
    HasWorker,
    Subject,
    Taggable,
    Warmable,
    capabilities,
)
from cachecheck._world import World
from cachecheck.checkers import (
    CheckResult,
    check_convergence,
    check_history,
    check_no_phantom_reads,
    check_read_your_writes,
    check_staleness,
)

#: Errors a cache may legitimately raise while a fault is active: recorded, not propagated.
#: Anything else (TypeError, KeyError, …) is a bug in the subject and fails the run.
FAULT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    DatabaseUnavailable,
    ConnectionError,
    TimeoutError,
    OSError,
)

SubjectFactory = Callable[[World], Any]


@dataclass(frozen=True)
class ModelConfig:
    """What the model may do. Enable only the faults the contract claims to survive."""

    keys: tuple[str, ...] = ("k0", "k1")
    clients: tuple[str, ...] = ("c0", "c1", "c2")
    #: Run 2-3 operations concurrently, switching at I/O points as Hypothesis chooses.
    interleavings: bool = True
    #: Advance the clock and shorten every TTL instead of sleeping.
    time_travel: bool = True
    #: Delete a random volatile key, as maxmemory eviction would.
    evictions: bool = True
    #: SIGKILL and restart the Redis server (needs a server cachecheck started).
    redis_crashes: bool = False
    #: Crash and restart the subject's background worker (needs `HasWorker`).
    worker_crashes: bool = False
    #: Network faults through the fault proxy (needs `world.proxy`): reset connections.
    connection_resets: bool = False
    #: Kill every client connection server-side (CLIENT KILL), subscribers included.
    connection_kills: bool = False
    #: Make one read's database load fail (an outage): the error must not be cached.
    db_outages: bool = False
    #: Longest time jump in seconds.
    max_time_step: float = 30.0
    drain_timeout: float = 10.0
    #: Check the history properties after every step (shortest counterexamples).
    check_every_step: bool = True

    @classmethod
    def for_faults(cls, faults: Iterable[str], **overrides: Any) -> ModelConfig:
        """A config injecting exactly the named faults (names as in the strategy registry:
        interleavings, time, eviction, redis_crash, worker_crash, connection_kill)."""
        names = set(faults)
        known = {"interleavings", "time", "eviction", "redis_crash", "worker_crash",
                 "connection_kill", "connection_reset", "db_outage"}  # fmt: skip
        if names - known:
            raise ValueError(f"unknown faults {sorted(names - known)}; use {sorted(known)}")
        options: dict[str, Any] = {
            "interleavings": "interleavings" in names,
            "time_travel": "time" in names,
            "evictions": "eviction" in names,
            "redis_crashes": "redis_crash" in names,
            "worker_crashes": "worker_crash" in names,
            "connection_kills": "connection_kill" in names,
            "connection_resets": "connection_reset" in names,
            "db_outages": "db_outage" in names,
        }
        options.update(overrides)
        return cls(**options)


class ContractViolation(AssertionError):
    """The subject broke its contract; `results` hold the findings with their proofs."""

    def __init__(self, message: str, results: Sequence[CheckResult]) -> None:
        super().__init__(message)
        self.results = list(results)

    @property
    def properties(self) -> set[str]:
        """The checkers that found something (convergence, staleness, ttl_hygiene, …)."""
        return {r.checker for r in self.results if r.findings}


@dataclass
class ModelOutcome:
    """The result of one model run."""

    subject: str
    passed: bool
    examples: int = 0
    steps: int = 0
    seconds: float = 0.0
    violation: ContractViolation | None = None
    counterexample_steps: int | None = None
    counterexample: str = ""
    #: Seconds and examples until the first violation was seen (before shrinking).
    time_to_catch: float | None = None
    examples_to_catch: int | None = None
    error: BaseException | None = None
    results: list[CheckResult] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def properties_violated(self) -> set[str]:
        return set() if self.violation is None else self.violation.properties


class _Tracker:
    """Counts across all examples of one run (Hypothesis builds a new machine per example)."""

    def __init__(self) -> None:
        self.examples = 0
        self.steps = 0
        self.last_steps: list[str] = []
        self.last_results: list[CheckResult] = []
        self.faults: dict[str, int] = {}
        self.started = time.monotonic()
        #: Seconds from the start until the first violation (before shrinking).
        self.first_failure_after: float | None = None
        self.examples_to_first_failure: int | None = None

    def failed(self) -> None:
        if self.first_failure_after is None:
            self.first_failure_after = time.monotonic() - self.started
            self.examples_to_first_failure = self.examples

    def fault(self, name: str) -> None:
        self.faults[name] = self.faults.get(name, 0) + 1


def build_machine(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    config: ModelConfig | None = None,
    *,
    tracker: _Tracker | None = None,
    probe_factory: SubjectFactory | None = None,
) -> type[RuleBasedStateMachine]:
    """A state machine class bound to `world`, building a fresh subject per example.

    One subject is built up front (by `probe_factory`, default `factory`) to learn which
    operations it supports, so the model draws only those.
    """
    cfg = config or ModelConfig()
    track = tracker or _Tracker()
    keys = st.sampled_from(cfg.keys)
    clients = st.sampled_from(cfg.clients)
    # Draw only operations the subject supports: every draw then spends its probability on
    # races that can happen (a probe subject tells the capabilities).
    supported = _burst_kinds(world, probe_factory or factory)
    kinds = st.lists(st.sampled_from(supported), min_size=2, max_size=3)
    # PCT-style: which op starts, then how many I/O calls each runs before a preemption.
    firsts = st.integers(0, 2)
    switches = st.lists(st.integers(0, 4), max_size=3)
    server = world.redis_server if isinstance(world.redis_server, RedisServer) else None

    class CacheModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            world.reset()
            self.world = world
            self.subject: Subject = factory(world)
            self.caps = capabilities(self.subject)
            self.values = itertools.count()
            self.steps: list[str] = []
            #: Async work (write-behind flush, invalidation delivery) may still be in flight.
            self.pending_async = False
            track.examples += 1

        # -- client operations -----------------------------------------------------------

        @rule(client=clients, key=keys)
        def read(self, client: str, key: str) -> None:
            """A read. At a quiescent point (nothing in flight, async work drained) it must
            serve the database's value: convergence is checked on every such read, so a stale
            entry is caught before a later expiry or eviction hides it."""
            self._step(f"read(client={client!r}, key={key!r})")
            served = self._read(client, key)
            if served is not _FAILED and not self.pending_async:
                self._check_quiescent_read(key, served)

        @rule(client=clients, key=keys)
        def write(self, client: str, key: str) -> None:
            self._step(f"write(client={client!r}, key={key!r})")
            self._write(client, key)

        @precondition(lambda self: "delete" in self.caps)
        @rule(client=clients, key=keys)
        def delete(self, client: str, key: str) -> None:
            self._step(f"delete(client={client!r}, key={key!r})")
            self._delete(client, key)

        @precondition(lambda self: cfg.interleavings)
        @rule(ops=kinds, key=keys, first=firsts, switches=switches)
        def concurrently(self, ops: list[str], key: str, first: int, switches: list[int]) -> None:
            """Run 2-3 operations on one key by different clients at once: op `first` starts,
            and each runs `switches[i]` Redis or database calls before being preempted."""
            ops = [self._supported(kind) for kind in ops]
            shown = ", ".join(repr(kind) for kind in ops)
            self._step(
                f"concurrently(ops=[{shown}], key={key!r}, first={first!r}, switches={switches!r})"
            )
            tasks = [self._task(f"c{i}", kind, key) for i, kind in enumerate(ops)]
            self._async_started()
            interleaver = Interleaver(first, switches)
            self.world.io.hook = interleaver.io_point
            try:
                results = interleaver.run(tasks)
            finally:
                self.world.io.hook = None
            for outcome in results:
                if outcome.error is not None and not isinstance(outcome.error, FAULT_ERRORS):
                    raise outcome.error
            self._probe(key)

        # -- time, evictions and faults -----------------------------------------------

        @precondition(lambda self: cfg.time_travel)
        @rule(seconds=st.floats(0.001, 1.0).map(lambda f: round(f * f * cfg.max_time_step, 3)))
        def time_passes(self, seconds: float) -> None:
            """Move the clock forward and shorten every TTL by as much (expiring some)."""
            self._step(f"time_passes(seconds={seconds!r})")
            clock = self.world.clock
            if isinstance(clock, (OffsetClock, ManualClock)):
                clock.advance(seconds)
            for redis_key in self._shorten_ttls(round(seconds * 1000)):
                self._expired(redis_key)

        @precondition(lambda self: cfg.evictions)
        @rule(choice=st.integers(0, 1000))
        def evict(self, choice: int) -> None:
            """Delete one key that has a TTL, as maxmemory eviction would."""
            self._step(f"evict(choice={choice!r})")
            volatile = self._volatile_keys()
            if volatile:
                redis_key = volatile[choice % len(volatile)]
                self.world.admin_client().delete(redis_key)
                self._expired(redis_key)

        @precondition(lambda self: cfg.redis_crashes and server is not None)
        @rule()
        def crash_redis(self) -> None:
            """SIGKILL the Redis server and start it again on the same port."""
            self._step("crash_redis()")
            assert server is not None
            persistence = str(server.options.persistence)
            self.world.history.note("redis_crash", persistence=persistence)
            server.kill()
            server.restart()
            self.world.history.note("redis_restart", persistence=persistence)
            track.fault("redis_crash")

        @precondition(lambda self: cfg.worker_crashes and "worker" in self.caps)
        @rule()
        def crash_worker(self) -> None:
            """Crash the subject's background worker (no ack, no flush) and start a new one."""
            self._step("crash_worker()")
            assert isinstance(self.subject, HasWorker)
            self.world.history.note("worker_crash")
            self.subject.worker.crash()
            self.subject.worker.start()
            track.fault("worker_crash")

        @precondition(lambda self: cfg.connection_resets and self.world.proxy is not None)
        @rule()
        def reset_connections(self) -> None:
            """Reset every connection through the fault proxy (clients reconnect)."""
            self._step("reset_connections()")
            # Disabling a Toxiproxy proxy closes every connection through it.
            self.world.proxy.disable()
            self.world.proxy.enable()
            self.world.history.note("connections_reset")
            track.fault("connection_reset")

        @precondition(lambda self: cfg.connection_kills)
        @rule()
        def kill_connections(self) -> None:
            """Close every client connection server-side (CLIENT KILL), subscribers too:
            the next command on each fails once, then clients reconnect."""
            self._step("kill_connections()")
            self.world.admin_client().client_kill_filter(skipme=True)
            self.world.history.note("connections_killed")
            track.fault("connection_kill")

        @precondition(lambda self: cfg.db_outages)
        @rule(client=clients, key=keys)
        def read_during_database_outage(self, client: str, key: str) -> None:
            """A read whose database load fails (the cache may serve a hit, or fail): the
            failure must not be cached as "absent"; the next quiescent read is checked."""
            self._step(f"read_during_database_outage(client={client!r}, key={key!r})")
            hooks = self.world.database.hooks
            hooks.fail_reads = True
            try:
                self._read(client, key)
            finally:
                hooks.fail_reads = False
            self._probe(key)

        @precondition(lambda self: "warm" in self.caps)
        @rule(key=keys)
        def warm(self, key: str) -> None:
            """Preload a key (cache warming)."""
            self._step(f"warm(key={key!r})")
            assert isinstance(self.subject, Warmable)
            self._async_started()
            with suppress(*FAULT_ERRORS):
                self.subject.warm([key])

        @precondition(lambda self: self._has_tags())
        @rule(key=keys)
        def update_behind_cache_then_invalidate_tag(self, key: str) -> None:
            """A bulk update changes the source of truth without touching the cache, then
            invalidates the key's tags: afterwards no read may serve the old value."""
            self._step(f"update_behind_cache_then_invalidate_tag(key={key!r})")
            with suppress(*FAULT_ERRORS):
                self._update_behind_cache("bulk", key)
            self._probe(key)

        @precondition(lambda self: "drain" in self.caps)
        @rule()
        def drain(self) -> None:
            self._step("drain()")
            self._drain()

        # -- checks ----------------------------------------------------------------------

        @invariant()
        def history_so_far_keeps_the_contract(self) -> None:
            if not cfg.check_every_step or not self.world.history.ops:
                return
            ops = self.world.history.ops
            commits = self.world.database.local_commits()
            results = [
                check_no_phantom_reads(ops, commits, contract),
                check_staleness(ops, commits, contract),
                check_read_your_writes(ops, commits, contract),
            ]
            self._raise_on_findings(results)

        def teardown(self) -> None:
            try:
                if track.last_steps is not self.steps:
                    track.last_steps = self.steps
                self._drain()
                served = {key: self._read("final", key) for key in cfg.keys}
                final_db = self.world.database.snapshot()
                history = self.world.history
                results = check_history(
                    history.ops,
                    self.world.database.commits(),
                    history.events,
                    contract,
                    final_cache=_as_cache_contents(served, final_db),
                    final_db=final_db,
                    loads=self.world.database.loads(),
                    ttls=self._ttls() if contract.ttl is not None else None,
                )
                track.last_results = results
                self._raise_on_findings(results)
            finally:
                if isinstance(self.subject, Closeable):
                    self.subject.close()

        # -- helpers -----------------------------------------------------------------------

        def _step(self, text: str) -> None:
            self.steps.append(text)
            track.steps += 1
            track.last_steps = self.steps

        def _value(self, key: str) -> str:
            return f"{key}#{next(self.values)}"

        def _read(self, client: str, key: str) -> Any:
            try:
                with self.world.history.record(client, OpKind.READ, key) as pending:
                    pending.ok(self.subject.get(key))
            except FAULT_ERRORS:
                return _FAILED
            return self.world.history.ops[-1].value

        def _write(self, client: str, key: str) -> None:
            self._async_started()
            value = self._value(key)
            try:
                with self.world.history.record(client, OpKind.WRITE, key, value):
                    self.subject.set(key, value)
            except FAULT_ERRORS:
                pass

        def _delete(self, client: str, key: str) -> None:
            self._async_started()
            try:
                with self.world.history.record(client, OpKind.DELETE, key):
                    self.subject.delete(key)
            except FAULT_ERRORS:
                pass

        def _supported(self, kind: str) -> str:
            """Map an op the subject cannot do to one it can (same draw, so shrinking works)."""
            if kind == "delete" and "delete" not in self.caps:
                return "write"
            if kind == "warm" and "warm" not in self.caps:
                return "read"
            if kind == "retag" and not self._has_tags():
                return "write"
            return kind

        def _has_tags(self) -> bool:
            return "tags" in self.caps and hasattr(self.subject, "tags_of")

        def _task(self, client: str, kind: str, key: str) -> Callable[[], Any]:
            if kind == "retag":
                return lambda: self._update_behind_cache(client, key)
            if kind == "warm":
                assert isinstance(self.subject, Warmable)
                subject = self.subject
                return lambda: subject.warm([key])
            if kind == "read":
                return lambda: self._read(client, key)
            if kind == "write":
                value = self._value(key)

                def write() -> None:
                    with self.world.history.record(client, OpKind.WRITE, key, value):
                        self.subject.set(key, value)

                return write
            return lambda: self._delete(client, key)

        def _update_behind_cache(self, client: str, key: str) -> None:
            assert isinstance(self.subject, Taggable)
            value = self._value(key)
            with self.world.history.record(client, OpKind.WRITE, key, value):
                self.world.database.write(key, value)
                for tag in sorted(set(getattr(self.subject, "tags_of")(key))):  # noqa: B009
                    self.subject.invalidate_tag(tag)

        def _drain(self) -> None:
            if isinstance(self.subject, Drainable):
                self.pending_async = not self.subject.drain(cfg.drain_timeout)

        def _probe(self, key: str) -> None:
            """Right after a burst the system is quiescent (if nothing is left to drain):
            read the key now, before a later expiry, eviction or write hides a stale entry."""
            if self.pending_async and "drain" in self.caps:
                self._drain()
            if not self.pending_async:
                served = self._read("probe", key)
                if served is not _FAILED:
                    self._check_quiescent_read(key, served)

        def _async_started(self) -> None:
            if "drain" in self.caps:
                self.pending_async = True

        def _check_quiescent_read(self, key: str, served: str | None) -> None:
            if not contract.converges:
                return
            row = self.world.database.peek_row(key)
            final_db = {key: None if row is None else row.value}
            history = self.world.history
            result = check_convergence(
                _as_cache_contents({key: served}, final_db),
                final_db,
                contract,
                ops=history.ops,
                commits=self.world.database.commits(),
            )
            self._raise_on_findings([result])

        def _shorten_ttls(self, ms: int) -> list[str]:
            admin = self.world.admin_client()
            expired = []
            for redis_key, pttl in self._ttl_items():
                if pttl > ms:
                    admin.pexpire(redis_key, pttl - ms)
                elif pttl > 0:
                    admin.delete(redis_key)
                    expired.append(redis_key)
            return expired

        def _ttl_items(self) -> list[tuple[str, int]]:
            admin = self.world.admin_client()
            found = sorted(admin.scan_iter(match=self.world.namespace + "*", count=1000))
            if not found:
                return []
            pipe = admin.pipeline(transaction=False)
            for redis_key in found:
                pipe.pttl(redis_key)
            return list(zip(found, (int(p) for p in pipe.execute()), strict=True))

        def _ttls(self) -> dict[str, int]:
            return dict(self._ttl_items())

        def _volatile_keys(self) -> list[str]:
            return [k for k, pttl in self._ttl_items() if pttl > 0]

        def _expired(self, redis_key: str) -> None:
            matching = [k for k in cfg.keys if redis_key.endswith(":" + k)]
            for key in matching or cfg.keys:
                self.world.history.note("expire", key=key, redis_key=redis_key)

        def _raise_on_findings(self, results: Sequence[CheckResult]) -> None:
            failed = [r for r in results if r.findings]
            if failed:
                track.failed()
                raise ContractViolation(format_violation(contract, failed), failed)

    CacheModel.__name__ = CacheModel.__qualname__ = f"CacheModel[{contract.name}]"
    return CacheModel


def _burst_kinds(world: World, factory: SubjectFactory) -> list[str]:
    world.reset()
    probe = factory(world)
    try:
        caps = capabilities(probe)
        kinds = ["read", "write"]
        if "delete" in caps:
            kinds.append("delete")
        if "warm" in caps:
            kinds.append("warm")
        if "tags" in caps and hasattr(probe, "tags_of"):
            kinds.append("retag")
        return kinds
    finally:
        if isinstance(probe, Closeable):
            probe.close()


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


_FAILED: Any = _Failed()


#: How a final read that served "absent" while the database holds a value is shown.
ABSENT = "<absent>"


def _as_cache_contents(
    served: dict[str, Any], final_db: dict[str, str | None]
) -> dict[str, str | None]:
    """Final reads through the subject, as the convergence checker sees cache contents.

    At quiescence the subject must serve the database's value. A read that served "absent"
    while the database holds a value is a stale entry too (a cached absence, a lost fill), so
    it is passed on as the ABSENT marker rather than as "not cached".
    """
    contents: dict[str, str | None] = {}
    for key, value in served.items():
        if value is _FAILED:
            continue
        if value is None and final_db.get(key) is not None:
            contents[key] = ABSENT
        elif value is not None:
            contents[key] = value
    return contents


def format_violation(contract: Contract, results: Sequence[CheckResult]) -> str:
    lines = [f"{contract.name} broke its contract:"]
    for result in results:
        for finding in result.findings[:3]:
            lines.append(f"  [{finding.property}] {finding.message}")
            lines.extend(f"      {op.describe()}" for op in finding.ops)
        if len(result.findings) > 3:
            lines.append(f"  … and {len(result.findings) - 3} more {result.checker} findings")
    return "\n".join(lines)


def run_model(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    config: ModelConfig | None = None,
    *,
    settings: hypothesis_settings | None = None,
    name: str | None = None,
    shrink_seconds: float | None = 60.0,
) -> ModelOutcome:
    """Run the model; return the outcome instead of raising (for reports and mutation scores).

    `shrink_seconds` bounds the time spent shrinking a failure (each shrink step replays an
    example against the real server); None keeps Hypothesis' own limit. The world's I/O hook
    and fault knobs are restored afterwards.
    """
    tracker = _Tracker()
    machine = build_machine(world, factory, contract, config, tracker=tracker)
    started = tracker.started = time.monotonic()
    outcome = ModelOutcome(subject=name or contract.name, passed=False)
    try:
        with _shrink_budget(shrink_seconds):
            run_state_machine_as_test(machine, settings=_without_explain(settings))
        outcome.passed = True
        outcome.results = tracker.last_results
    except ContractViolation as violation:
        _record_violation(outcome, violation, tracker, machine.__name__)
    except BaseExceptionGroup as group:
        # Hypothesis reports distinct failures together; keep the first contract violation.
        violations, rest = group.split(ContractViolation)
        if violations is None:
            raise
        first = _first_leaf(violations)
        assert isinstance(first, ContractViolation)
        _record_violation(outcome, first, tracker, machine.__name__)
        if rest is not None:
            outcome.error = rest
    except Flaky as exc:
        outcome.error = exc
    finally:
        world.io.hook = None
        world.database.hooks.clear()
    record_counts(outcome, tracker, started)
    return outcome


def record_counts(outcome: ModelOutcome, tracker: _Tracker, started: float) -> None:
    """Copy what the tracker counted over every example of a run into its outcome."""
    outcome.examples = tracker.examples
    outcome.steps = tracker.steps
    outcome.seconds = time.monotonic() - started
    outcome.faults = dict(tracker.faults)
    outcome.time_to_catch = tracker.first_failure_after
    outcome.examples_to_catch = tracker.examples_to_first_failure


def _record_violation(
    outcome: ModelOutcome, violation: ContractViolation, tracker: _Tracker, machine: str
) -> None:
    outcome.violation = violation
    outcome.results = violation.results
    outcome.counterexample_steps = len(tracker.last_steps)
    outcome.counterexample = format_steps(tracker.last_steps, machine)


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


@contextmanager
def _shrink_budget(seconds: float | None) -> Iterator[None]:
    """Hypothesis documents MAX_SHRINKING_SECONDS as the knob to monkeypatch for this."""
    if seconds is None:
        yield
        return
    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


def _without_explain(given: hypothesis_settings | None) -> hypothesis_settings:
    """The explain phase re-runs failures under a tracer to list covered lines; on a real
    server that costs seconds and says less than our findings do."""
    base = given if given is not None else hypothesis_settings()
    phases = tuple(phase for phase in base.phases if phase is not Phase.explain)
    return hypothesis_settings(base, phases=phases)


def format_steps(steps: Sequence[str], machine: str) -> str:
    """The shrunk counterexample as Hypothesis-style replay lines."""
    lines = [f"state = {machine}()"]
    lines += [f"state.{step}" for step in steps]
    lines.append("state.teardown()")
    return "\n".join(lines)
