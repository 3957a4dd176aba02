"""Plumbing shared by the scenarios: seeded choices, subjects that are always closed, client
threads that are always joined, recorded operations, an I/O gate over `world.io`, TTL
snapshots, and a world that bypasses the fault proxy."""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from cachecheck._history import OpKind
from cachecheck._model import FAULT_ERRORS, SubjectFactory
from cachecheck._subject import Closeable
from cachecheck._world import World
from cachecheck.checkers import LockHold, LockRelease

__all__ = [
    "FAULT_ERRORS",
    "IoGate",
    "Read",
    "Subjects",
    "ThreadGroup",
    "describe_params",
    "direct_world",
    "lock_history",
    "recorded_read",
    "recorded_write",
    "scenario_rng",
    "shorten_ttls",
    "stats_ms",
    "subject_name",
    "wait_until",
]

#: Every thread a scenario starts is joined within this many seconds, or the scenario fails.
JOIN_TIMEOUT = 30.0


def scenario_rng(name: str, seed: int) -> random.Random:
    """The one source of a scenario's random choices: the same seed, the same choices."""
    return random.Random(f"cachecheck.scenarios.{name}:{seed}")


def describe_params(params: object) -> dict[str, Any]:
    """A params dataclass as a dict (tuples become lists)."""
    if not is_dataclass(params) or isinstance(params, type):
        raise TypeError(f"scenario params must be a dataclass instance, got {params!r}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}


def subject_name(subject: object, contract_name: str) -> str:
    """How a subject is named in results: its class, and the contract it claims."""
    cls = type(subject).__name__
    return cls if cls.lower() == contract_name.replace("_", "") else f"{cls} ({contract_name})"


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def stats_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p99 / max of durations, in milliseconds (None when there are none)."""
    ordered = sorted(seconds)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1] * 1e3, 3)

    return {"p50_ms": rank(0.5), "p99_ms": rank(0.99), "max_ms": round(ordered[-1] * 1e3, 3)}


# -- subjects and threads ---------------------------------------------------------------------


class Subjects:
    """Subjects built by `factory` on `world`, closed (in reverse order) when the block ends,
    whatever happens inside it."""

    def __init__(self, world: World, factory: SubjectFactory) -> None:
        self._world = world
        self._factory = factory
        self.built: list[Any] = []

    def make(self, count: int = 1) -> list[Any]:
        """`count` new subjects (separate application nodes)."""
        made = [self._factory(self._world) for _ in range(count)]
        self.built.extend(made)
        return made

    def one(self) -> Any:
        """One new subject."""
        return self.make(1)[0]

    def __enter__(self) -> Subjects:
        return self

    def __exit__(self, *exc: object) -> None:
        for subject in reversed(self.built):
            if isinstance(subject, Closeable):
                with contextlib.suppress(Exception):
                    subject.close()
        self.built.clear()


class ThreadGroup:
    """Client threads that are always joined: `start(name, fn)` runs `fn()` in a thread;
    `join()` waits for all, then re-raises the first unexpected error (fault errors are the
    caller's to catch). Used as a context manager, leaving the block stops and joins them."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def start(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        """Run `fn()` in a new thread called `name`; an exception stops the group."""

        def body() -> None:
            try:
                fn()
            except BaseException as exc:
                self._errors.append(exc)
                self.stop.set()

        thread = threading.Thread(target=body, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def loop(self, name: str, step: Callable[[int], object], interval: float) -> None:
        """Run `step(n)` every `interval` seconds until `stop` is set."""

        def run() -> None:
            n = 0
            while not self.stop.is_set():
                began = time.monotonic()
                step(n)
                n += 1
                self.stop.wait(max(0.0, interval - (time.monotonic() - began)))

        self.start(name, run)

    def join(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Wait for every thread; raise if one is stuck or raised."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"scenario threads did not finish within {timeout} s: {stuck}")
        if self._errors:
            raise self._errors[0]

    def __enter__(self) -> ThreadGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()


# -- recorded operations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """One recorded read as a client saw it: `ok` False when it raised a fault error."""

    client: str
    key: str
    value: str | None
    ok: bool
    started: float
    seconds: float


def recorded_read(world: World, client: str, subject: Any, key: str) -> Read:
    """`subject.get(key)` recorded in the world's history; fault errors become a failed
    read (returned, not raised). Times are on the world's clock."""
    started = world.clock.now()
    try:
        with world.history.record(client, OpKind.READ, key) as pending:
            value = subject.get(key)
            pending.ok(value)
    except FAULT_ERRORS:
        return Read(client, key, None, False, started, world.clock.now() - started)
    return Read(client, key, value, True, started, world.clock.now() - started)


def recorded_write(world: World, client: str, subject: Any, key: str, value: str) -> bool:
    """`subject.set(key, value)` recorded; False when it raised a fault error (the history
    then says it may or may not have applied)."""
    try:
        with world.history.record(client, OpKind.WRITE, key, value):
            subject.set(key, value)
    except FAULT_ERRORS:
        return False
    return True


# -- the I/O gate ---------------------------------------------------------------------------


@dataclass
class _Hold:
    release: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)
    after_db_read: bool = False
    seen_db_read: bool = False


class IoGate:
    """A hook on `world.io` (every Redis command of `world.client()` clients and every
    database call): counts Redis commands and database reads per thread, and holds chosen
    threads at an I/O point until released.

    `hold_at_db_read(thread)` stops that thread just before its next database read (a loader
    that stalls, e.g. a lock holder outlasting its lock); `hold_after_db_read(thread)` stops
    it at its first Redis command after a database read (between the load and the fill).
    Install it with `with IoGate(world) as gate:`; it releases everyone on exit.
    """

    def __init__(self, world: World) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._holds: dict[str, _Hold] = {}
        self.redis_commands: dict[str, int] = defaultdict(int)
        self.db_reads: dict[str, list[float]] = defaultdict(list)

    def hold_at_db_read(self, thread: str) -> threading.Event:
        """Hold `thread` at its next database read; returns the event set when it is held."""
        with self._lock:
            self._holds[thread] = _Hold()
            return self._holds[thread].reached

    def hold_after_db_read(self, thread: str) -> threading.Event:
        """Hold `thread` at its first Redis command after its next database read."""
        with self._lock:
            self._holds[thread] = _Hold(after_db_read=True)
            return self._holds[thread].reached

    def release(self, thread: str) -> None:
        """Let `thread` go on (and stop holding it)."""
        with self._lock:
            hold = self._holds.pop(thread, None)
        if hold is not None:
            hold.release.set()

    def release_all(self) -> None:
        """Let every held thread go on."""
        with self._lock:
            holds, self._holds = list(self._holds.values()), {}
        for hold in holds:
            hold.release.set()

    def __call__(self, component: str, operation: str) -> None:
        name = threading.current_thread().name
        with self._lock:
            if component == "redis":
                self.redis_commands[name] += 1
            elif component == "db" and operation == "read":
                self.db_reads[name].append(self._world.clock.now())
            hold = self._holds.get(name)
            wait = hold is not None and self._should_hold(hold, component, operation)
        if wait and hold is not None:
            hold.reached.set()
            hold.release.wait(JOIN_TIMEOUT)

    @staticmethod
    def _should_hold(hold: _Hold, component: str, operation: str) -> bool:
        if not hold.after_db_read:
            return component == "db" and operation == "read"
        if component == "db" and operation == "read":
            hold.seen_db_read = True
            return False
        return component == "redis" and hold.seen_db_read

    def __enter__(self) -> IoGate:
        self._world.io.hook = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._world.io.hook = None
        self.release_all()


# -- Redis key inspection ---------------------------------------------------------------------


def shorten_ttls(world: World, ms: int, keys: Iterable[str] | None = None) -> list[str]:
    """Shorten to `ms` the TTL of every namespace key (or of `keys`) that has a longer one,
    as time passing would; keys without a TTL are left alone. Returns the keys shortened."""
    admin = world.admin_client()
    pttls = world.keyspace.pttls()
    chosen = [k for k in (pttls if keys is None else keys) if pttls.get(k, -2) > ms]
    if chosen:
        pipe = admin.pipeline(transaction=False)
        for key in chosen:
            pipe.pexpire(key, ms)
        pipe.execute()
    return chosen


# -- worlds -----------------------------------------------------------------------------------


@contextlib.contextmanager
def direct_world(world: World) -> Iterator[World]:
    """A world on the same server, database, namespace and clock whose clients bypass the
    fault proxy (a writer the fault must not touch). Its clients are closed on exit."""
    hooks_io = world.database.hooks.io
    direct = World(world.redis_server, world.database, world.settings, world.clock,
                   world.allow_flush)  # fmt: skip
    world.database.hooks.io = hooks_io  # World() points the database's I/O hook at itself
    direct.keyspace.prefix = world.namespace
    try:
        yield direct
    finally:
        direct.close_clients()
        direct.admin_client().close()


# -- locks ------------------------------------------------------------------------------------


def lock_history(events: Iterable[Any]) -> tuple[list[LockHold], list[LockRelease]]:
    """Lock events of a lock-based subject (`LockEvent`-shaped: kind, resource, token, client,
    invoked_at, completed_at, ttl, deleted) as the mutual-exclusion checker's holds and
    releases. A hold lasts from its acquire's completion until its own release's invocation
    (if that release deleted its token) or its lease end (acquire invocation + TTL)."""
    events = list(events)
    owner = {e.token: e.client for e in events if str(e.kind) == "acquire"}
    releases = {e.token: e for e in events if str(e.kind) == "release"}
    holds = []
    for e in events:
        if str(e.kind) != "acquire":
            continue
        release = releases.get(e.token)
        own = release is not None and release.deleted == e.token
        holds.append(
            LockHold(e.resource, e.client, e.completed_at,
                     release.invoked_at if own and release is not None else None,
                     e.invoked_at + e.ttl)
        )  # fmt: skip
    released = [
        LockRelease(r.resource, r.client, r.invoked_at,
                    None if r.deleted is None else owner.get(r.deleted, str(r.deleted)))
        for r in releases.values()
    ]  # fmt: skip
    return holds, released
