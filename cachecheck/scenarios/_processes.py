"""Clients in separate processes (multiprocessing, spawn): a child rebuilds the world's pieces
from URLs, since database hooks, load counters and I/O hooks are per process.

A child gets a `ChildWorld` (the Redis URL through the fault proxy, the database URL and the
names of the parent's tables, the namespace, the client settings, the clock offset) and an
importable subject factory (a module-level function, or a `functools.partial` of one). Times
a child records are on the parent's clock: the clock offset travels with the spec and the
monotonic clock is system-wide.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from sqlalchemy import create_engine, inspect, text

from cachecheck._client import ClientSettings
from cachecheck._database import Database, Load
from cachecheck._model import FAULT_ERRORS, SubjectFactory
from cachecheck._redis_server import ExternalRedis
from cachecheck._subject import Closeable
from cachecheck._world import World

__all__ = [
    "ChildFailure",
    "ChildRead",
    "ChildReady",
    "ChildSummary",
    "ChildWorld",
    "ShiftedClock",
    "check_importable",
    "drop_child_tables",
    "open_world",
    "spawn",
    "stampede_child",
    "stuck_holder_child",
]

#: Barrier and queue waits in children: spawning on a loaded 2-core machine takes seconds.
CHILD_TIMEOUT = 120.0


def spawn() -> SpawnContext:
    """The multiprocessing context every scenario uses: spawn (no inherited threads or sockets)."""
    return multiprocessing.get_context("spawn")


class ShiftedClock:
    """`time.monotonic()` plus a fixed offset: the parent's `OffsetClock` as seen by a child."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        """The shifted monotonic time in seconds."""
        return time.monotonic() + self.offset

    def __repr__(self) -> str:
        return f"ShiftedClock(offset={self.offset!r})"


@dataclass(frozen=True)
class ChildWorld:
    """Everything a child process needs to rebuild the parent's world."""

    redis_url: str
    admin_url: str
    db_url: str
    items_table: str
    commits_table: str
    namespace: str
    settings: ClientSettings
    clock_offset: float

    @classmethod
    def of(cls, world: World) -> ChildWorld:
        """What a child needs to rebuild `world` (its clock offset taken now)."""
        return cls(
            redis_url=world.redis_url,
            admin_url=world.redis_server.url,
            db_url=world.database.url,
            items_table=world.database.items.name,
            commits_table=world.database.commit_log.name,
            namespace=world.namespace,
            settings=world.settings,
            clock_offset=world.clock.now() - time.monotonic(),
        )


def open_world(spec: ChildWorld) -> World:
    """The parent's world, rebuilt in a child: same Redis (through the proxy), same database
    tables, same namespace, same clock. Close it with `World.close()` (it stops nothing the
    parent owns)."""
    clock = ShiftedClock(spec.clock_offset)
    database = Database(spec.db_url, clock=clock)
    database.attach(spec.items_table, spec.commits_table)
    world = World(ExternalRedis(spec.admin_url), database, spec.settings, clock)
    world.redis_url = spec.redis_url
    world.keyspace.prefix = spec.namespace
    return world


def drop_child_tables(db_url: str, pid: int) -> int:
    """Drop the tables a killed child created for itself (`cachecheck_<pid>_*`); it never got
    to `Database.close()`. Returns how many were dropped."""
    engine = create_engine(db_url)
    try:
        names = [n for n in inspect(engine).get_table_names() if n.startswith(f"cachecheck_{pid}_")]
        with engine.begin() as conn:
            for name in names:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        return len(names)
    finally:
        engine.dispose()


def check_importable(factory: SubjectFactory) -> None:
    """Fail early and clearly when `factory` cannot travel to a spawned process."""
    try:
        pickle.dumps(factory)
    except Exception as exc:
        raise TypeError(
            f"clients in separate processes need an importable subject factory (a module-level "
            f"function or a functools.partial of one); {factory!r} cannot be pickled: {exc}"
        ) from None


def join_or_kill(processes: list[SpawnProcess], timeout: float) -> None:
    """Join every process; kill whichever is still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(10)


# -- what children report ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRead:
    """One read by one client (a thread or a process) in one round."""

    round: int
    client: str
    value: str | None
    ok: bool
    started: float
    seconds: float
    redis_commands: int
    db_reads: int


@dataclass(frozen=True)
class ChildSummary:
    """What a child sends after its last round: its loads and lock events."""

    client: str
    loads: list[Load] = field(default_factory=list)
    lock_events: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ChildReady:
    """A child built its world and subject and is about to wait for the first round."""

    client: str


@dataclass(frozen=True)
class ChildFailure:
    """A child raised: its traceback, for the parent to re-raise."""

    client: str
    error: str


@contextlib.contextmanager
def reporting_failures(results: Any, client: str) -> Iterator[None]:
    """In a child: send any exception to the parent before dying of it."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            results.put(ChildFailure(client, traceback.format_exc()))
        raise


def wait_for_child(
    done: Any, process: SpawnProcess, errors: Any, timeout: float, what: str
) -> None:
    """Wait until `done()` holds; fail at once (with the child's traceback when it sent one)
    if the child dies first, and after `timeout` seconds otherwise."""
    deadline = time.monotonic() + timeout
    while not done():
        if process.exitcode is not None:
            raise RuntimeError(f"{process.name} exited with code {process.exitcode} before "
                               f"{what}{_sent_error(errors)}")  # fmt: skip
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{process.name} did not get to {what} within {timeout} s")
        time.sleep(0.05)


def _sent_error(errors: Any) -> str:
    with contextlib.suppress(Exception):
        failure = errors.get(timeout=1.0)
        if isinstance(failure, ChildFailure):
            return f":\n{failure.error}"
    return ""


class _Counter:
    """An I/O hook counting this process's Redis commands and database reads."""

    def __init__(self) -> None:
        self.redis = 0
        self.db_reads = 0

    def __call__(self, component: str, operation: str) -> None:
        if component == "redis":
            self.redis += 1
        elif component == "db" and operation == "read":
            self.db_reads += 1


def stampede_child(
    spec: ChildWorld,
    factory: SubjectFactory,
    client: str,
    key: str,
    rounds: int,
    db_latency: float,
    start: Any,
    results: Any,
) -> None:
    """A stampede client in its own process: report `ChildReady`; each round, wait at
    `start`, read `key` once, put a `ChildRead` on `results`; finally put a
    `ChildSummary`. Any exception goes to `results` as a `ChildFailure`."""
    with reporting_failures(results, client):
        drop_child_tables(spec.db_url, os.getpid())  # a reused pid's leftovers, if any
        world = open_world(spec)
        subject = None
        try:
            subject = factory(world)
            world.database.hooks.read_latency = db_latency
            counter = _Counter()
            world.io.hook = counter
            results.put(ChildReady(client))
            for r in range(rounds):
                start.wait(CHILD_TIMEOUT)
                results.put(_timed_read(world, subject, counter, r, client, key))
            events = list(getattr(subject, "lock_events", ()))
            results.put(ChildSummary(client, world.database.loads(), events))
        finally:
            if isinstance(subject, Closeable):
                with contextlib.suppress(Exception):
                    subject.close()
            world.close()


def _timed_read(
    world: World, subject: Any, counter: _Counter, round_: int, client: str, key: str
) -> ChildRead:
    commands, reads = counter.redis, counter.db_reads
    started = world.clock.now()
    try:
        value, ok = subject.get(key), True
    except FAULT_ERRORS:
        value, ok = None, False
    return ChildRead(round_, client, value, ok, started, world.clock.now() - started,
                     counter.redis - commands, counter.db_reads - reads)  # fmt: skip


def stuck_holder_child(
    spec: ChildWorld, factory: SubjectFactory, key: str, loading: Any, errors: Any
) -> None:
    """A client whose database read never returns: it misses on `key`, takes whatever the
    subject takes before loading (a lock, a lease), sets `loading` and hangs until the parent
    kills it. It never cleans up: that is the point. Exceptions go to `errors`."""
    with reporting_failures(errors, "holder"):
        drop_child_tables(spec.db_url, os.getpid())
        world = open_world(spec)
        subject = factory(world)

        def stall(component: str, operation: str) -> None:
            if component == "db" and operation == "read":
                loading.set()
                time.sleep(CHILD_TIMEOUT * 10)

        world.io.hook = stall
        subject.get(key)
        raise RuntimeError(f"the holder's read of {key!r} returned without loading")
