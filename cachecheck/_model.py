"""The stateful model: Hypothesis drives a subject with client operations, interleavings,
time, evictions and faults, records a history, and checks it against the subject's contract.

`build_machine()` returns a `RuleBasedStateMachine` class bound to one world and one subject
factory; `run_model()` runs it and returns a `ModelOutcome` (passed, or the violation with the
shrunk, replayable steps).
"""

from __future__ import annotations

import itertools
import time
import unittest
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import redis
from hypothesis import Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
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
    check_ttl_hygiene,
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

#: A time jump expires keys left with less than this (ms): Redis would expire them in real
#: time moments later, unrecorded, and a checker would then miss an episode boundary. A
#: step on a loaded machine takes tens of milliseconds; this leaves a wide margin.
EXPIRY_GRACE_MS = 250


@dataclass(frozen=True)
class ModelConfig:
    """What the model may do. Enable only the faults the contract claims to survive."""

    keys: tuple[str, ...] = ("k0", "k1")
    #: Keys that already hold a row when an example starts (written straight to the database,
    #: the cache cold): most cache races need an old value to go stale, and this saves every
    #: counterexample the write that would create it. Keys not listed start absent.
    seeded_keys: tuple[str, ...] = ("k0",)
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
    #: False when the time budget stopped the run before Hypothesis finished.
    complete: bool = True
    #: False when a violation was reported from an example that was not fully shrunk.
    shrunk: bool = True
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def properties_violated(self) -> set[str]:
        return set() if self.violation is None else self.violation.properties


@dataclass(frozen=True)
class Step:
    """One rule call of an example, replayable as `getattr(state, rule)(**arguments)`."""

    rule: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.arguments.items())
        return f"{self.rule}({shown})"


class _Tracker:
    """Counts across all examples of one run (Hypothesis builds a new machine per example)."""

    def __init__(self) -> None:
        self.examples = 0
        self.steps = 0
        self.last_steps: list[Step] = []
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
    operations it supports. Rules for operations it lacks and for faults `config` leaves out
    are removed from the class, so no draw is spent on a rule that cannot run.
    """
    cfg = config or ModelConfig()
    track = tracker or _Tracker()
    keys = st.sampled_from(cfg.keys)
    clients = st.sampled_from(cfg.clients)
    probed = _probe_capabilities(world, probe_factory or factory)
    kinds = st.lists(st.sampled_from(_burst_kinds(probed)), min_size=2, max_size=3)
    # Two reads racing is a stampede (the scenarios measure those), not a stale value.
    pairs = st.lists(st.sampled_from(_burst_kinds(probed)), min_size=2, max_size=2).filter(
        lambda ops: ops != ["read", "read"]
    )
    # PCT-style: which op starts, then how many I/O calls each runs before a preemption.
    firsts = st.integers(0, 2)
    switches = st.lists(st.integers(0, 4), max_size=3)
    server = world.redis_server if isinstance(world.redis_server, RedisServer) else None

    class CacheModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            world.reset()
            world.io.inline_background = True  # see BackgroundExecutor; teardown resets it
            self.world = world
            self.subject: Subject = factory(world)
            self.caps = capabilities(self.subject)
            self.values = itertools.count()
            self.steps: list[Step] = []
            #: Async work (write-behind flush, invalidation delivery) may still be in flight.
            self.pending_async = False
            #: History length at the last invariant check (steps without reads skip it).
            self.checked_ops = 0
            #: Set when a step broke the contract: teardown then only cleans up.
            self.failed = False
            for key in (k for k in cfg.seeded_keys if k in cfg.keys):
                value = self._value(key)
                with world.history.record("seed", OpKind.WRITE, key, value):
                    world.database.write(key, value)
            track.examples += 1

        # -- client operations -----------------------------------------------------------

        @rule(client=clients, key=keys)
        def read(self, client: str, key: str) -> None:
            """A read. At a quiescent point (nothing in flight, async work drained) it must
            serve the database's value: convergence is checked on every such read, so a stale
            entry is caught before a later expiry or eviction hides it."""
            self._step("read", client=client, key=key)
            served = self._read(client, key)
            if served is not _FAILED and not self.pending_async:
                self._check_quiescent_read(key, served)

        @rule(client=clients, key=keys)
        def write(self, client: str, key: str) -> None:
            self._step("write", client=client, key=key)
            self._write(client, key)

        @rule(client=clients, key=keys)
        def delete(self, client: str, key: str) -> None:
            self._step("delete", client=client, key=key)
            self._delete(client, key)

        @rule(ops=kinds, key=keys, first=firsts, switches=switches)
        def concurrently(self, ops: list[str], key: str, first: int, switches: list[int]) -> None:
            """Run 2-3 operations on one key by different clients at once: op `first` starts,
            and each runs `switches[i]` Redis or database calls before being preempted."""
            ops = [self._supported(kind) for kind in ops]
            self._step("concurrently", ops=ops, key=key, first=first, switches=switches)
            self._burst(ops, key, first, switches)

        @rule(ops=pairs, key=keys, after=st.integers(0, 3))
        def race(self, ops: list[str], key: str, after: int) -> None:
            """The most common cache race, drawn directly: op 0 makes `after` Redis or
            database calls, op 1 then runs to completion, and op 0 finishes (a reader
            preempted between its database read and its fill; a writer preempted between
            invalidating and committing). `concurrently` covers the deeper schedules."""
            ops = [self._supported(kind) for kind in ops]
            self._step("race", ops=ops, key=key, after=after)
            self._burst(ops, key, 0, [after])

        @rule(ops=pairs, key=keys, after=st.integers(0, 3))
        def race_on_miss(self, ops: list[str], key: str, after: int) -> None:
            """`race` after evicting everything cached for the key: the stale-set family
            starts on a miss, and a hit would leave nothing to race."""
            ops = [self._supported(kind) for kind in ops]
            self._step("race_on_miss", ops=ops, key=key, after=after)
            for redis_key in self.world.keyspace.evict_all_of(key):
                self._expired(redis_key)
            self._burst(ops, key, 0, [after])

        def _burst(self, ops: list[str], key: str, first: int, switches: list[int]) -> None:
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

        @rule(seconds=_time_steps(cfg, contract))
        def time_passes(self, seconds: float) -> None:
            """Move the clock forward and shorten every TTL by as much (expiring some). For a
            subject without background work, every key's TTL is checked on the way: a key
            without one is caught at the step where it exists, not only if it lasts."""
            self._step("time_passes", seconds=seconds)
            self._advance(seconds)

        @rule(choice=st.integers(0, 1000), fraction=st.sampled_from([0.9, 1.0]))
        def time_passes_toward_expiry(self, choice: int, fraction: float) -> None:
            """Jump to `fraction` of one volatile key's remaining TTL: to the edge of a
            refresh window or exactly to an expiry, where TTL logic breaks, whatever the
            entry's age (a fixed jump lands there only by chance)."""
            self._step("time_passes_toward_expiry", choice=choice, fraction=fraction)
            pttls = self.world.keyspace.pttls()
            volatile = sorted(key for key, pttl in pttls.items() if pttl > 0)
            if volatile:
                self._advance(pttls[volatile[choice % len(volatile)]] * fraction / 1000)

        def _advance(self, seconds: float) -> None:
            clock = self.world.clock
            if isinstance(clock, (OffsetClock, ManualClock)):
                clock.advance(seconds)
            advanced = self.world.keyspace.advance(round(seconds * 1000), grace_ms=EXPIRY_GRACE_MS)
            for redis_key in advanced.expired:
                self._expired(redis_key)
            # Only where no background work can be writing keys meanwhile (refresh-ahead
            # reloads start on reads): a check racing it would fail unreproducibly.
            if contract.ttl is not None and "drain" not in self.caps:
                self._raise_on_findings([check_ttl_hygiene(advanced.pttls_before, contract)])

        @rule(choice=st.integers(0, 1000))
        def evict(self, choice: int) -> None:
            """Delete one key that has a TTL, as maxmemory eviction would."""
            self._step("evict", choice=choice)
            evicted = self.world.keyspace.evict(choice)
            if evicted is not None:
                self._expired(evicted)

        @rule()
        def crash_redis(self) -> None:
            """SIGKILL the Redis server and start it again on the same port."""
            self._step("crash_redis")
            assert server is not None
            persistence = str(server.options.persistence)
            self.world.history.note("redis_crash", persistence=persistence)
            server.kill()
            server.restart()
            self.world.history.note("redis_restart", persistence=persistence)
            track.fault("redis_crash")

        @rule()
        def crash_worker(self) -> None:
            """Crash the subject's background worker (no ack, no flush) and start a new one."""
            self._step("crash_worker")
            assert isinstance(self.subject, HasWorker)
            self.world.history.note("worker_crash")
            self.subject.worker.crash()
            self.subject.worker.start()
            track.fault("worker_crash")

        @rule()
        def reset_connections(self) -> None:
            """Reset every connection through the fault proxy (clients reconnect)."""
            self._step("reset_connections")
            # Disabling a Toxiproxy proxy closes every connection through it.
            self.world.proxy.disable()
            self.world.proxy.enable()
            self.world.history.note("connections_reset")
            track.fault("connection_reset")

        @rule()
        def kill_connections(self) -> None:
            """Close every client connection server-side (CLIENT KILL), subscribers too:
            the next command on each fails once, then clients reconnect."""
            self._step("kill_connections")
            self.world.admin_client().client_kill_filter(skipme=True)
            self.world.history.note("connections_killed")
            track.fault("connection_kill")

        @rule(client=clients, key=keys)
        def read_during_database_outage(self, client: str, key: str) -> None:
            """A read whose database load fails (the cache may serve a hit, or fail): the
            failure must not be cached as "absent"; the next quiescent read is checked."""
            self._step("read_during_database_outage", client=client, key=key)
            hooks = self.world.database.hooks
            hooks.fail_reads = True
            try:
                self._read(client, key)
            finally:
                hooks.fail_reads = False
            self._probe(key)

        @rule(key=keys)
        def warm(self, key: str) -> None:
            """Preload a key (cache warming)."""
            self._step("warm", key=key)
            assert isinstance(self.subject, Warmable)
            self._async_started()
            with suppress(*FAULT_ERRORS):
                self.subject.warm([key])

        @rule(key=keys)
        def update_behind_cache_then_invalidate_tag(self, key: str) -> None:
            """A bulk update changes the source of truth without touching the cache, then
            invalidates the key's tags: afterwards no read may serve the old value."""
            self._step("update_behind_cache_then_invalidate_tag", key=key)
            with suppress(*FAULT_ERRORS):
                self._update_behind_cache("bulk", key)
            self._probe(key)

        @rule()
        def drain(self) -> None:
            """Wait for background work; once it is done, every key's TTL is checked (a
            refresh or a flush that dropped one is caught here, not only at the end)."""
            self._step("drain")
            self._drain()
            if contract.ttl is not None and not self.pending_async:
                ttls = self.world.keyspace.pttls()
                self._raise_on_findings([check_ttl_hygiene(ttls, contract)])

        # -- checks ----------------------------------------------------------------------

        @invariant()
        def history_so_far_keeps_the_contract(self) -> None:
            ops = self.world.history.ops
            # Every property checked here is about what a read saw, judged against commits
            # visible before it started: only a new read can break one (teardown checks the
            # whole history whatever happens here).
            new_ops, self.checked_ops = ops[self.checked_ops :], len(ops)
            if not cfg.check_every_step or not any(op.kind is OpKind.READ for op in new_ops):
                return
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
                if self.failed:
                    # Hypothesis tears down after a failing step too. A second violation here
                    # would chain onto the first and look like a different bug to the
                    # shrinker, which then keeps steps it could have dropped.
                    return
                self._drain()
                served = {key: self._read("final", key) for key in cfg.keys}
                self._drain()  # a final read may start work too (a refresh-ahead reload)
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
                    ttls=self.world.keyspace.pttls() if contract.ttl is not None else None,
                )
                track.last_results = results
                self._raise_on_findings(results)
            finally:
                self.world.io.inline_background = False
                if isinstance(self.subject, Closeable):
                    self.subject.close()

        # -- helpers -----------------------------------------------------------------------

        def _step(self, rule: str, **arguments: Any) -> None:
            self.steps.append(Step(rule, arguments))
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

        def _expired(self, redis_key: str) -> None:
            matching = [k for k in cfg.keys if redis_key.endswith(":" + k)]
            for key in matching or cfg.keys:
                self.world.history.note("expire", key=key, redis_key=redis_key)

        def _raise_on_findings(self, results: Sequence[CheckResult]) -> None:
            failed = [r for r in results if r.findings]
            if failed:
                track.failed()
                self.failed = True
                raise ContractViolation(format_violation(contract, failed), failed)

    for name in _OPTIONAL_RULES - _enabled_rules(cfg, probed, world, server):
        delattr(CacheModel, name)
    CacheModel.__name__ = CacheModel.__qualname__ = f"CacheModel[{contract.name}]"
    return CacheModel


def _time_steps(cfg: ModelConfig, contract: Contract) -> st.SearchStrategy[float]:
    """How far time jumps: the contract's TTL landmarks (everything expires; well into the
    last fifth of a TTL, where refresh-ahead acts; half a TTL), or any step up to
    `max_time_step`, small ones likelier."""
    anywhere = st.floats(0.001, 1.0).map(lambda f: round(f * f * cfg.max_time_step, 3))
    if contract.ttl is None:
        return anywhere
    ttl = contract.ttl.max_seconds
    landmarks = [round(ttl + 0.001, 3), round(ttl * 0.85, 3), round(ttl * 0.5, 3)]
    return st.one_of(st.sampled_from(landmarks), anywhere)


#: Rules that exist only for some configs or subjects (`_enabled_rules` picks them).
_OPTIONAL_RULES = frozenset({
    "delete", "concurrently", "race", "race_on_miss", "time_passes", "time_passes_toward_expiry",
    "evict", "crash_redis",
    "crash_worker", "reset_connections", "kill_connections", "read_during_database_outage", "warm",
    "update_behind_cache_then_invalidate_tag", "drain",
})  # fmt: skip


def _enabled_rules(
    cfg: ModelConfig, caps: frozenset[str], world: World, server: RedisServer | None
) -> set[str]:
    wanted = {
        "delete": "delete" in caps,
        "concurrently": cfg.interleavings,
        "race": cfg.interleavings,
        "race_on_miss": cfg.interleavings and cfg.evictions,
        "time_passes": cfg.time_travel,
        "time_passes_toward_expiry": cfg.time_travel,
        "evict": cfg.evictions,
        "crash_redis": cfg.redis_crashes and server is not None,
        "crash_worker": cfg.worker_crashes and "worker" in caps,
        "reset_connections": cfg.connection_resets and world.proxy is not None,
        "kill_connections": cfg.connection_kills,
        "read_during_database_outage": cfg.db_outages,
        "warm": "warm" in caps,
        "update_behind_cache_then_invalidate_tag": "retag" in caps,
        "drain": "drain" in caps,
    }
    return {name for name, on in wanted.items() if on}


def _probe_capabilities(world: World, factory: SubjectFactory) -> frozenset[str]:
    """What a subject from `factory` can do; "retag" when it can name a key's tags."""
    world.reset()
    probe = factory(world)
    try:
        caps = capabilities(probe)
        retag = "tags" in caps and hasattr(probe, "tags_of")
        return caps | {"retag"} if retag else caps
    finally:
        if isinstance(probe, Closeable):
            probe.close()


def _burst_kinds(caps: frozenset[str]) -> list[str]:
    """The operations a concurrent burst draws from: only those the subject supports, so
    every draw spends its probability on races that can happen."""
    optional = [kind for kind in ("delete", "warm", "retag") if kind in caps]
    return ["read", "write", *optional]


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


class BudgetExhausted(KeyboardInterrupt):
    """Raised at an example boundary once a model run's time budget is spent.

    A `KeyboardInterrupt` because that is the one exception Hypothesis lets through at once,
    without shrinking or replaying; `run_model` catches it and never lets it escape.
    """


class _Guard:
    """The subject factory, refusing to start a new example once the deadline has passed."""

    def __init__(self, factory: SubjectFactory, deadline: float | None) -> None:
        self.factory = factory
        self.deadline = deadline

    def __call__(self, world: World) -> Any:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.deadline = None  # trip once: a replay after the interruption must run
            raise BudgetExhausted
        return self.factory(world)


def run_model(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    config: ModelConfig | None = None,
    *,
    settings: hypothesis_settings | None = None,
    name: str | None = None,
    shrink_seconds: float | None = 60.0,
    seed: int | None = None,
    deadline: float | None = None,
    minimize_seconds: float = 10.0,
) -> ModelOutcome:
    """Run the model; return the outcome instead of raising (for reports and mutation scores).

    `shrink_seconds` bounds Hypothesis' shrinking (each shrink step replays an example against
    the real server); None keeps Hypothesis' own limit. A shrunk counterexample is then
    minimized by replaying it without each of its steps in turn, for up to `minimize_seconds`.
    `seed` fixes the examples explored; `deadline` (a `time.monotonic()` value) stops the run
    at the next example boundary: a violation seen before then is still reported, replayed but
    not shrunk (`outcome.shrunk`), and a run cut short is not `outcome.complete`. Errors that
    are not contract violations come back as `outcome.error` with the failing example's steps.
    The world's I/O hook and fault knobs are restored afterwards.
    """
    tracker = _Tracker()
    machine = build_machine(world, _Guard(factory, deadline), contract, config,
                            tracker=tracker, probe_factory=factory)  # fmt: skip
    if seed is not None:
        machine = hypothesis_seed(seed)(machine)
    run_settings = model_settings(settings, seed=seed, deadline=deadline)
    outcome = ModelOutcome(subject=name or contract.name, passed=False)
    started = tracker.started = time.monotonic()
    try:
        with _shrink_budget(shrink_seconds):
            _run_within_budget(machine, run_settings, outcome, tracker)
        if outcome.violation is not None and outcome.shrunk:
            until = time.monotonic() + minimize_seconds
            _minimize(
                machine, outcome, tracker, until if deadline is None else min(until, deadline)
            )
    finally:
        world.io.hook = None
        world.io.inline_background = False
        world.database.hooks.clear()
    record_counts(outcome, tracker, started)
    return outcome


def model_settings(
    base: hypothesis_settings | None, *, seed: int | None, deadline: float | None
) -> hypothesis_settings:
    """Settings for a model run: no explain phase (it re-runs failures under a tracer, which
    costs seconds on a real server), no deadline (real I/O), one failure reported; with a seed
    or a budget, an in-memory example database so that an interrupted shrink can be replayed."""
    parent = base if base is not None else hypothesis_settings()
    phases = tuple(p for p in parent.phases if p is not Phase.explain)
    if seed is None and deadline is None:
        return hypothesis_settings(parent, phases=phases, deadline=None, report_multiple_bugs=False)
    return hypothesis_settings(
        parent,
        phases=phases,
        deadline=None,
        derandomize=False,
        database=InMemoryExampleDatabase(),
        report_multiple_bugs=False,
    )


def _run_within_budget(
    machine: type[RuleBasedStateMachine],
    settings: hypothesis_settings,
    outcome: ModelOutcome,
    tracker: _Tracker,
) -> None:
    try:
        _attempt(machine, settings, outcome, tracker)
    except BudgetExhausted:
        outcome.complete = False
        if tracker.first_failure_after is None:
            outcome.passed = True
            outcome.results = tracker.last_results
            return
        outcome.shrunk = False
        _replay_best(machine, settings, outcome, tracker)


def _attempt(
    machine: type[RuleBasedStateMachine],
    settings: hypothesis_settings,
    outcome: ModelOutcome,
    tracker: _Tracker,
) -> None:
    try:
        run_state_machine_as_test(machine, settings=settings)
        outcome.passed = True
        outcome.results = tracker.last_results
    except ContractViolation as violation:
        outcome.violation = violation
        outcome.results = violation.results
        _record_steps(outcome, tracker.last_steps, machine.__name__)
    except (Flaky, Exception) as exc:
        outcome.error = exc
        _record_steps(outcome, tracker.last_steps, machine.__name__)


def _replay_best(
    machine: type[RuleBasedStateMachine],
    settings: hypothesis_settings,
    outcome: ModelOutcome,
    tracker: _Tracker,
) -> None:
    """Replay the saved failing examples only (no generation, no shrinking)."""
    examples, steps = tracker.examples, tracker.steps
    try:
        _attempt(machine, hypothesis_settings(settings, phases=(Phase.reuse,)), outcome, tracker)
    except unittest.SkipTest:  # nothing was saved: Hypothesis had no failing example to run
        outcome.passed = True
    finally:
        tracker.examples, tracker.steps = examples, steps
    if outcome.passed and outcome.violation is None:
        outcome.passed = False
        outcome.error = RuntimeError(
            "a violation was seen but the time budget ran out before it could be replayed; "
            "run again with a larger profile"
        )


def _minimize(
    machine: type[RuleBasedStateMachine], outcome: ModelOutcome, tracker: _Tracker, until: float
) -> None:
    """Drop steps the violation does not need: replay the counterexample without each run of
    steps (halves, quarters, … single steps) and keep any shorter one that still breaks one of
    the same properties. Hypothesis' shrinker works on the choices behind the steps and can
    keep a step whose removal shifts later draws; a replay of the steps themselves cannot."""
    assert outcome.violation is not None
    wanted = outcome.violation.properties
    steps = list(tracker.last_steps)
    examples, counted = tracker.examples, tracker.steps
    try:
        chunk = max(1, len(steps) // 2)
        while chunk >= 1 and time.monotonic() < until:
            shorter = _without_a_chunk(machine, steps, chunk, wanted, until)
            if shorter is None:
                chunk //= 2
                continue
            steps, outcome.violation = shorter
            chunk = min(chunk, max(1, len(steps) // 2))
    finally:
        tracker.examples, tracker.steps = examples, counted
    outcome.results = outcome.violation.results
    _record_steps(outcome, steps, machine.__name__)


def _without_a_chunk(
    machine: type[RuleBasedStateMachine],
    steps: list[Step],
    chunk: int,
    wanted: set[str],
    until: float,
) -> tuple[list[Step], ContractViolation] | None:
    for start in range(0, len(steps), chunk):
        if time.monotonic() >= until:
            return None
        candidate = steps[:start] + steps[start + chunk :]
        violation = replay_steps(machine, candidate)
        if violation is not None and violation.properties & wanted:
            return candidate, violation
    return None


def replay_steps(
    machine: type[RuleBasedStateMachine], steps: Sequence[Step]
) -> ContractViolation | None:
    """Run `steps` on a fresh machine as Hypothesis would (invariants after each, then
    teardown); the violation they cause, or None. Other errors count as not reproducing."""
    state: Any = machine()
    try:
        state.history_so_far_keeps_the_contract()
        for step in steps:
            getattr(state, step.rule)(**step.arguments)
            state.history_so_far_keeps_the_contract()
    except ContractViolation as violation:
        state.teardown()  # cleans up only: the example already failed
        return violation
    except Exception:
        state.failed = True
        state.teardown()
        return None
    try:
        state.teardown()
    except ContractViolation as violation:
        return violation
    except Exception:
        return None
    return None


def record_counts(outcome: ModelOutcome, tracker: _Tracker, started: float) -> None:
    """Copy what the tracker counted over every example of a run into its outcome."""
    outcome.examples = tracker.examples
    outcome.steps = tracker.steps
    outcome.seconds = time.monotonic() - started
    outcome.faults = dict(tracker.faults)
    outcome.time_to_catch = tracker.first_failure_after
    outcome.examples_to_catch = tracker.examples_to_first_failure


def _record_steps(outcome: ModelOutcome, steps: Sequence[Step], machine: str) -> None:
    outcome.counterexample_steps = len(steps)
    outcome.counterexample = format_steps(steps, machine)


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


def format_steps(steps: Sequence[Step | str], machine: str) -> str:
    """The shrunk counterexample as Hypothesis-style replay lines."""
    lines = [f"state = {machine}()"]
    lines += [f"state.{step}" for step in steps]
    lines.append("state.teardown()")
    return "\n".join(lines)
