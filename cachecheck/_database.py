"""The source of truth: a real SQL database with a version per key and a commit log.

Checkers need the true timeline, so every committed change is logged with its version and its
commit time on the framework clock. Reads are counted per key (stampede checks), and hooks can
slow reads down or make reads and writes fail (breaker and stampede scenarios).

cachecheck creates its own tables, with a unique prefix on a database it did not create, and
only ever deletes rows from (and drops) those tables.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._errors import ProvisionError, UnsafeResetError
from cachecheck._history import Commit
from cachecheck._sql import Statements, Transaction

_table_counter = itertools.count()


class DatabaseUnavailable(ConnectionError):
    """Raised by a read or write that a failure hook makes fail (as a real outage would)."""


@dataclass(frozen=True, slots=True)
class Load:
    """One read of the source of truth: a cache miss that went to the database."""

    key: str
    at: float
    client: str


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    value: str | None
    version: int


class DatabaseHooks:
    """Knobs chaos tests turn. Plain attributes: set them from any thread."""

    def __init__(self) -> None:
        self.read_latency = 0.0
        self.write_latency = 0.0
        self.fail_reads = False
        self.fail_writes = False
        #: Called before every read and write with ("db", "read"|"write"); the interleaver
        #: uses it to switch between clients. Infrastructure, so `clear()` keeps it.
        self.io: Callable[[str, str], None] | None = None

    def clear(self) -> None:
        """Turn every fault knob off (the I/O hook stays)."""
        self.read_latency = 0.0
        self.write_latency = 0.0
        self.fail_reads = False
        self.fail_writes = False

    def before_read(self) -> None:
        if self.io is not None:
            self.io("db", "read")
        if self.read_latency > 0:
            time.sleep(self.read_latency)
        if self.fail_reads:
            raise DatabaseUnavailable("database reads are failing (cachecheck hook fail_reads)")

    def before_write(self) -> None:
        if self.io is not None:
            self.io("db", "write")
        if self.write_latency > 0:
            time.sleep(self.write_latency)
        if self.fail_writes:
            raise DatabaseUnavailable("database writes are failing (cachecheck hook fail_writes)")


class Database:
    """A source-of-truth table, its commit log and load counters, on a real SQL database.

    `url=None` creates a SQLite file (WAL mode) in a fresh temporary directory, which this
    object owns and removes on `close()`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        allow_reset: bool = False,
    ) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.hooks = DatabaseHooks()
        self._temp_dir: str | None = None
        if url is None:
            self._temp_dir = tempfile.mkdtemp(prefix="cachecheck-db-")
            url = f"sqlite:///{self._temp_dir}/source-of-truth.sqlite"
        self.url = url
        self.owned = self._temp_dir is not None
        self.allow_reset = allow_reset
        self._prefix = (
            "cachecheck_" if self.owned else f"cachecheck_{os.getpid()}_{next(_table_counter)}_"
        )
        self._engine = self._make_engine(url)
        self._metadata = MetaData()
        self.items = Table(
            f"{self._prefix}items",
            self._metadata,
            Column("key", String(512), primary_key=True),
            Column("value", Text, nullable=True),
            Column("version", Integer, nullable=False),
            Column("deleted", Boolean, nullable=False, default=False),
        )
        self.commit_log = Table(
            f"{self._prefix}commits",
            self._metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("key", String(512), nullable=False),
            Column("version", Integer, nullable=False),
            Column("value", Text, nullable=True),
            Column("committed_at", Float, nullable=False),
        )
        self._create_tables()
        self._sql = Statements(self._engine, self.items, self.commit_log)
        self._loads: list[Load] = []
        self._visible_at: dict[tuple[str, int], float] = {}
        self._log_cache: list[tuple[str, int, str | None, float]] = []
        self._log_cache_id = 0
        self._local_commits: list[Commit] = []
        self._load_lock = threading.Lock()

    # -- the source of truth ------------------------------------------------------------

    def read(self, key: str, *, client: str | None = None) -> str | None:
        """The current value of `key` (None if absent or deleted); counts as a load."""
        row = self.read_row(key, client=client)
        return None if row is None else row.value

    def read_row(self, key: str, *, client: str | None = None) -> Row | None:
        """The current row of `key` with its version (None if never written); counts as a load."""
        self.hooks.before_read()
        self._record_load(key, client)
        return self.peek_row(key)

    def peek_row(self, key: str) -> Row | None:
        """Like `read_row` but not counted as a load and not subject to hooks (for checkers)."""
        found = self._sql.fetch_one(self._sql.row, k=key)
        if found is None:
            return None
        value, version, deleted = found
        return Row(key, None if deleted else value, int(version))

    def write(self, key: str, value: str) -> int:
        """Set `key` to `value`; return the new version."""
        return self._commit(key, value)

    def delete(self, key: str) -> int:
        """Delete `key` (a tombstone keeps its version); return the new version."""
        return self._commit(key, None)

    def apply_if_newer(self, key: str, value: str | None, version: int) -> bool:
        """Apply a versioned change only if `version` is newer than the stored one.

        Idempotent: re-applying the same or an older version changes nothing. Write-behind
        workers use this so a replayed or reordered queue entry never goes back in time.
        """
        self.hooks.before_write()
        for _ in range(5):
            try:
                with self._sql.transaction() as txn:
                    current = self._current_version(txn, key)
                    if current is not None and current >= version:
                        return False
                    self._store(txn, key, value, version, exists=current is not None)
                self._mark_visible(key, version, value)
                return True
            except self._sql.integrity_error:
                continue  # a concurrent first insert of the key won; re-read and compare
        raise ProvisionError(f"could not apply version {version} of {key!r} after 5 attempts")

    def attach(self, items_table: str, commits_table: str) -> None:
        """Use existing cachecheck tables of this database (another process's, reflected)
        instead of this object's own, which stay empty and are dropped by `close()`."""
        metadata = MetaData()
        self.items = Table(items_table, metadata, autoload_with=self._engine)
        self.commit_log = Table(commits_table, metadata, autoload_with=self._engine)
        self._sql = Statements(self._engine, self.items, self.commit_log)

    def snapshot(self) -> dict[str, str | None]:
        """Every key's current value (None for deleted), not counted as loads."""
        rows = self._sql.fetch_all(self._sql.snapshot)
        return {key: (None if deleted else value) for key, value, deleted in rows}

    # -- what checkers read ----------------------------------------------------------------

    def commits(self) -> list[Commit]:
        """The commit log in commit order."""
        rows = self._commit_rows()
        with self._load_lock:
            visible = dict(self._visible_at)
        return [
            Commit(key, version, value, visible.get((key, version), at))
            for key, version, value, at in rows
        ]

    def local_commits(self) -> list[Commit]:
        """The commits this process made, in the order they became visible, without a
        database round trip. Equal to `commits()` when no other process writes (the
        stateful model); multi-process experiments use `commits()`."""
        with self._load_lock:
            return list(self._local_commits)

    def _commit_rows(self) -> list[tuple[str, int, str | None, float]]:
        # SQLite serializes writers, so log ids follow commit order and only new rows need
        # fetching. Elsewhere an id can commit after a larger one: read the whole log.
        last_id = self._log_cache_id if self.is_sqlite else 0
        fetched = self._sql.fetch_all(self._sql.log_since, after=last_id)
        new_rows = [(str(k), int(ver), val, float(at)) for _, k, ver, val, at in fetched]
        with self._load_lock:
            if not self.is_sqlite:
                return new_rows
            if fetched and int(fetched[0][0]) > self._log_cache_id:
                self._log_cache.extend(new_rows)
                self._log_cache_id = int(fetched[-1][0])
            return list(self._log_cache)

    def loads(self) -> list[Load]:
        with self._load_lock:
            return list(self._loads)

    def load_counts(self) -> Counter[str]:
        with self._load_lock:
            return Counter(load.key for load in self._loads)

    # -- lifecycle ------------------------------------------------------------------------

    def reset(self) -> None:
        """Delete every row of cachecheck's own tables, clear the load log and the hooks."""
        with self._sql.transaction() as txn:
            txn.execute(self._sql.clear_items)
            txn.execute(self._sql.clear_log)
        with self._load_lock:
            self._loads.clear()
            self._visible_at.clear()
            self._log_cache.clear()
            self._log_cache_id = 0
            self._local_commits.clear()
        self.hooks.clear()

    def close(self) -> None:
        """Drop cachecheck's tables on a database it did not create; remove its own SQLite."""
        try:
            if not self.owned:
                self._metadata.drop_all(self._engine)
        finally:
            self._engine.dispose()
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self._temp_dir = None

    def describe(self) -> dict[str, Any]:
        url = make_url(self.url)
        return {
            "url": url.render_as_string(hide_password=True),
            "dialect": url.get_backend_name(),
            "owned": self.owned,
            "tables": [self.items.name, self.commit_log.name],
        }

    def __repr__(self) -> str:
        return f"<Database {self.describe()['url']}>"

    # -- internals --------------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self._engine.dialect.name == "sqlite"

    def _make_engine(self, url: str) -> Engine:
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        options: dict[str, Any] = {"pool_size": 20, "max_overflow": 50}
        if is_sqlite:
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            engine = create_engine(url, **options)
        except Exception as exc:  # bad driver names, missing DBAPI modules
            raise ProvisionError(f"cannot create a database engine for {url!r}: {exc}") from None
        if is_sqlite:
            _use_immediate_transactions(engine)
        return engine

    def _create_tables(self) -> None:
        try:
            existing = set(inspect(self._engine).get_table_names())
        except OperationalError as exc:
            raise ProvisionError(
                f"cannot connect to the database {self.url!r}: {exc.orig}"
            ) from None
        ours = {self.items.name, self.commit_log.name}
        if existing & ours and not (self.owned or self.allow_reset):
            raise UnsafeResetError(
                f"tables {sorted(existing & ours)} already exist in {self.url!r}; cachecheck will "
                "not reuse tables it did not create. Drop them, or pass --cachecheck-allow-flush."
            )
        self._metadata.create_all(self._engine)

    def _commit(self, key: str, value: str | None) -> int:
        self.hooks.before_write()
        for _ in range(5):
            try:
                with self._sql.transaction() as txn:
                    current = self._current_version(txn, key)
                    version = 1 if current is None else current + 1
                    self._store(txn, key, value, version, exists=current is not None)
                self._mark_visible(key, version, value)
                return version
            except self._sql.integrity_error:
                continue  # a concurrent first insert of the same key; retry as an update
        raise ProvisionError(f"could not commit a write of {key!r} after 5 attempts")

    def _current_version(self, txn: Transaction, key: str) -> int | None:
        """The stored version of `key`, row-locked until the transaction ends."""
        found = txn.scalar(self._sql.version_for_update, k=key)
        return None if found is None else int(found)

    def _store(
        self, txn: Transaction, key: str, value: str | None, version: int, *, exists: bool
    ) -> None:
        item = self._sql.update_item if exists else self._sql.insert_item
        txn.execute(item, k=key, v=value, ver=version, gone=value is None)
        # Inside the transaction, after the row lock: a lower bound on visibility that follows
        # version order; `commits()` replaces it by the after-COMMIT time when known.
        txn.execute(self._sql.log_commit, k=key, ver=version, v=value, at=self.clock.now())

    def _mark_visible(self, key: str, version: int, value: str | None) -> None:
        # The logged time is taken inside the transaction, before COMMIT. Checkers need the
        # moment the change was certainly visible to every reader: just after COMMIT returned.
        now = self.clock.now()
        with self._load_lock:
            self._visible_at[(key, version)] = now
            self._local_commits.append(Commit(key, version, value, now))

    def _record_load(self, key: str, client: str | None) -> None:
        load = Load(key, self.clock.now(), client or threading.current_thread().name)
        with self._load_lock:
            self._loads.append(load)


def _use_immediate_transactions(engine: Engine) -> None:
    """SQLite: every connection in WAL mode with the driver's own transaction handling off,
    and SQLAlchemy transactions (table creation) taking the write lock at BEGIN (SQLAlchemy's
    pysqlite recipe). The source-of-truth statements begin their own IMMEDIATE transactions
    on raw connections (`Statements.transaction`)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # The source of truth's durability across an OS crash is not under test; speed is.
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
