"""Write-behind (write-back): acknowledge a write once it is in Redis; a worker thread commits it
to the database later, in batches.

A write runs one Lua script that assigns the key's next version (a counter in Redis), stores
the value as the key's *dirty record* (no TTL: it must survive until committed) and as a normal
cache entry (with a TTL), and appends `(key, version, value)` to a Redis Stream. A worker in a
consumer group reads the stream, commits with `Database.apply_if_newer` (idempotent and
version-guarded, so redelivered or reordered entries never move a key back in time), and only
then acknowledges (XACK + XDEL) and drops the dirty record. Entries of a crashed worker stay in
the group's pending list; the next worker takes them over (XCLAIM of its known-dead predecessors
at start, XAUTOCLAIM of anyone's entries idle longer than `claim_idle`).

Version safety across Redis restarts: the counter remembers the server's `run_id`. After a
restart (or for a key Redis has never seen) the script asks the caller for the database's
version and continues above it, so a counter rolled back by a restart from an older AOF/RDB or
an empty server never hands out versions the database already holds (which `apply_if_newer`
would silently drop). With AOF persistence the worker also waits for the entries it read to be
fsynced (WAITAOF) before committing them, so the database never gets ahead of what Redis
would restore after a crash.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from cachecheck._clock import Clock
from cachecheck._config import Fsync, Persistence, PersistenceSpec, parse_persistence
from cachecheck._contract import Contract, Durability, TtlPolicy
from cachecheck._database import Database, DatabaseUnavailable

from ._registry import Reference, register_reference
from .cache_aside import DEFAULT_TTL, ClientFactory, FillHook, RedisCache, text
from .write_through import Versioned

__all__ = [
    "FlushWorker",
    "QueuedWrite",
    "WriteBehind",
    "loss_window_for",
    "newest_per_key",
    "persistence_of",
    "write_behind_contract",
]

log = logging.getLogger(__name__)

#: appendfsync everysec: fsync once a second, and Redis postpones writes at most 2 s when an
#: fsync lags, so at most about 2 s of acknowledged writes are not on disk at a crash.
EVERYSEC_LOSS_WINDOW: Final = 2.0
_GROUP: Final = "flushers"
_BLOCK_MS: Final = 100  # below every client's socket timeout
_RETRY_PAUSE: Final = 0.05
_node_ids = itertools.count(1)

# KEYS: counter (hash: v, run), dirty record, entry, stream.
# ARGV: key, value part ("+value" or "-"), entry px, floor ("" unless asked for).
# Returns the new version, or -1 when the counter may be behind the database (new key, or a
# different server run) and the caller must pass the database's version as the floor.
_WRITE: Final = """
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('HGET', KEYS[1], 'run') ~= run then
  if ARGV[4] == '' then return -1 end
  local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
  local floor = tonumber(ARGV[4])
  if floor > current then current = floor end
  redis.call('HSET', KEYS[1], 'v', current, 'run', run)
end
local version = redis.call('HINCRBY', KEYS[1], 'v', 1)
local entry = version .. ':' .. ARGV[2]
redis.call('SET', KEYS[2], entry)
redis.call('SET', KEYS[3], entry, 'PX', ARGV[3])
redis.call('XADD', KEYS[4], '*', 'k', ARGV[1], 'v', version, 'p', ARGV[2])
return version
"""

# KEYS: counter, entry. ARGV: version, entry text, px. A read-miss fill: only if no newer
# write was assigned a version meanwhile and nobody stored an entry.
_FILL: Final = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current > tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: dirty record. ARGV: committed version. Drop the record once that version is durable.
_CLEAN: Final = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(string.match(current, '^(%d+):')) <= tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class QueuedWrite:
    """One stream entry: a write (value None: a delete) waiting to be committed."""

    id: str
    key: str
    version: int
    value: str | None


class _NotDurableYet(Exception):
    """WAITAOF timed out: the entries read are not fsynced yet; retry before committing."""


def loss_window_for(persistence: PersistenceSpec | str) -> float | None:
    """How many seconds of acknowledged writes a Redis crash can lose (None: no bound).

    - `aof:always`: 0. Redis fsyncs before it replies, so an acknowledged write is on disk.
    - `aof:everysec`: about 1 s, at most `EVERYSEC_LOSS_WINDOW` (2 s) when fsync lags. The
      worker waits for fsync before committing, so the flush interval adds nothing.
    - `aof:no`, `rdb`, `none`: no bound. Unflushed writes live only in memory (or until the
      next snapshot / OS flush), and a stopped worker can leave them unflushed indefinitely.
    """
    spec = parse_persistence(persistence) if isinstance(persistence, str) else persistence
    if spec.mode is not Persistence.AOF:
        return None
    if spec.appendfsync is Fsync.ALWAYS:
        return 0.0
    if spec.appendfsync is Fsync.EVERYSEC:
        return EVERYSEC_LOSS_WINDOW
    return None


def write_behind_contract(
    *, ttl: float = DEFAULT_TTL, persistence: PersistenceSpec | str = "none"
) -> Contract:
    return Contract(
        name="write_behind",
        durability=Durability.ASYNC,
        loss_window=loss_window_for(persistence),
        # Reads are served from dirty records, so they are never stale and a client reads its
        # own writes. The history cannot verify either: versions are assigned in Redis and the
        # worker commits (coalesced) later, so the database's commit log does not say which
        # acknowledged write or delete a read saw. Only promises the history can check are
        # stated; convergence, durability and no-phantom reads are.
        staleness_bound=None,
        read_your_writes=False,
        converges=True,
        ttl=TtlPolicy(
            max_seconds=ttl,
            exempt=("*write_behind:queue", "*write_behind:ctr:*", "*write_behind:dirty:*"),
        ),
        notes=(
            f"Acknowledged once in Redis (persistence {persistence}); committed later by a "
            "worker with apply_if_newer. A worker crash loses nothing (pending entries are "
            "reclaimed); a Redis crash loses unflushed writes acknowledged within the loss "
            "window. The queue, version counters and dirty records have no TTL by design."
        ),
    )


class WriteBehind(RedisCache):
    """Write-behind with a durable Redis Stream queue and a batching flush worker.

    `set`/`delete` are one Lua call: next version (HINCRBY), dirty record, cache entry, XADD.
    `get` is one MGET of the dirty record and the entry (the newer wins); on a miss it reads the
    database and fills, unless a newer write got a version meanwhile. The worker commits in
    batches (`batch_size` entries, then a pause of `flush_interval` when the batch was not
    full), coalescing several writes of one key into the newest, and acknowledges only after the
    commit.

    When to use: write-heavy keys where write latency matters more than immediate durability
    (counters, session state, activity logs), and the loss window below is acceptable.

    Contract: ASYNC durability with `loss_window_for(persistence)`; read-your-writes and no
    stale reads (dirty records are served until committed); converges once drained. Entries
    have TTLs; the queue, counters and dirty records are exempt (a dirty record must live until
    committed: run Redis with `noeviction` or a `volatile-*` policy). The database must not be
    written around this cache for its keys (versions come from Redis).

    Cost: a write is one EVALSHA (plus one database version read for a key's first write per
    Redis server run); a hit is one MGET; the database sees batched, coalesced commits. One
    counter hash per key ever written.

    Args:
        connect: factory of Redis clients; the worker gets its own connection.
        persistence: the Redis server's persistence, for the loss window and for WAITAOF.
        flush_interval: pause after a partial batch, seconds (larger: bigger batches).
        batch_size: entries read and committed per round.
        claim_idle: entries pending longer than this (seconds) on another consumer are taken
            over (that consumer presumably died).
        node: consumer name prefix; unique per process by default.
        autostart: start the worker in the constructor.
    """

    strategy = "write_behind"

    def __init__(
        self,
        connect: ClientFactory,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        persistence: PersistenceSpec | str = "none",
        flush_interval: float = 0.1,
        batch_size: int = 100,
        claim_idle: float = 5.0,
        node: str | None = None,
        autostart: bool = True,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            connect(), database, namespace, ttl=ttl, clock=clock, before_fill=before_fill
        )
        if batch_size < 1 or flush_interval < 0 or claim_idle <= 0:
            raise ValueError("need batch_size >= 1, flush_interval >= 0 and claim_idle > 0")
        self._connect = connect
        self.persistence = (
            parse_persistence(persistence) if isinstance(persistence, str) else persistence
        )
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.claim_idle = claim_idle
        #: Test hook: called with each write right before its database commit.
        self.before_apply: Callable[[QueuedWrite], None] | None = None
        self._write_script = self._redis.register_script(_WRITE)
        self._fill_script = self._redis.register_script(_FILL)
        self._clean_script = self._redis.register_script(_CLEAN)
        self._stream = self._keys.meta("queue")
        self._ensure_group(self._redis)
        self._worker = FlushWorker(self, node or _default_node())
        if autostart:
            self._worker.start()

    @property
    def contract(self) -> Contract:
        return write_behind_contract(ttl=self.ttl, persistence=self.persistence)

    @property
    def worker(self) -> FlushWorker:
        return self._worker

    # -- Subject ------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        dirty, cached = self._redis.mget([self._keys.meta("dirty", key), self._keys.value(key)])
        found = [Versioned.decode(raw) for raw in (text(dirty), text(cached)) if raw is not None]
        if found:
            return max(found, key=lambda entry: entry.version).value
        read_at = self._clock.now()
        row = self._db.read_row(key)
        entry = Versioned(0, None) if row is None else Versioned(row.version, row.value)
        self._pause_before_fill(key)
        px = self._remaining_ms(self._ttl_ms(), read_at)
        if px > 0:
            keys = [self._keys.meta("ctr", key), self._keys.value(key)]
            self._fill_script(keys=keys, args=[entry.version, entry.encode(), px])
        return entry.value

    def set(self, key: str, value: str) -> None:
        self._enqueue(key, value)

    def delete(self, key: str) -> None:
        self._enqueue(key, None)

    def drain(self, timeout: float) -> bool:
        """Wait until every queued write is committed and acknowledged (the stream is empty)."""
        deadline = time.monotonic() + timeout
        while not self._queue_empty():
            if time.monotonic() >= deadline or not self._worker.is_alive():
                return False
            self._worker.wake()
            time.sleep(0.01)
        return True

    def _queue_empty(self) -> bool:
        try:
            return int(self._redis.xlen(self._stream)) == 0
        except redis.RedisError:  # a dropped connection: ask again (it reconnects)
            return False

    def close(self) -> None:
        self._worker.stop()
        self._redis.close()

    # -- the write path -------------------------------------------------------------------------

    def _enqueue(self, key: str, value: str | None) -> int:
        keys = [
            self._keys.meta("ctr", key),
            self._keys.meta("dirty", key),
            self._keys.value(key),
            self._stream,
        ]
        part = "-" if value is None else f"+{value}"
        version = int(self._write_script(keys=keys, args=[key, part, self._ttl_ms(), ""]))
        if version < 0:  # Redis has no trustworthy counter for this key: continue above the DB
            row = self._db.read_row(key)
            floor = 0 if row is None else row.version
            version = int(self._write_script(keys=keys, args=[key, part, self._ttl_ms(), floor]))
        return version

    # -- what the worker calls ----------------------------------------------------------------

    def _ensure_group(self, client: redis.Redis) -> None:
        try:
            client.xgroup_create(self._stream, _GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _flush(self, client: redis.Redis, batch: Sequence[QueuedWrite], alive: Alive) -> bool:
        """Commit then acknowledge `batch`; False if the worker crashed part-way."""
        newest = newest_per_key(batch)
        for write in newest:
            if not self._may_apply(write, alive):
                return False
            self._apply(write)
        if not alive():
            return False
        self._settle(client, newest, batch)
        return True

    def _may_apply(self, write: QueuedWrite, alive: Alive) -> bool:
        if self.before_apply is not None:
            self.before_apply(write)
        return alive()

    def _apply(self, write: QueuedWrite) -> None:
        """Commit one write; idempotent and never older over newer."""
        self._db.apply_if_newer(write.key, write.value, write.version)

    def _settle(
        self, client: redis.Redis, newest: Iterable[QueuedWrite], batch: Sequence[QueuedWrite]
    ) -> None:
        """After the commit: drop dirty records, XACK and XDEL, atomically."""
        pipe = client.pipeline(transaction=True)
        for write in newest:
            self._clean_script(
                keys=[self._keys.meta("dirty", write.key)], args=[write.version], client=pipe
            )
        ids = [write.id for write in batch]
        pipe.xack(self._stream, _GROUP, *ids)
        pipe.xdel(self._stream, *ids)
        pipe.execute()

    @property
    def _waits_for_fsync(self) -> bool:
        mode = self.persistence
        return mode.mode is Persistence.AOF and mode.appendfsync is not Fsync.NO

    def __repr__(self) -> str:
        return (
            f"WriteBehind(namespace={self._keys.namespace!r}, persistence="
            f"'{self.persistence}', flush_interval={self.flush_interval!r}, "
            f"batch_size={self.batch_size!r})"
        )


Alive = Callable[[], bool]


@dataclass(eq=False)
class _Generation:
    """One run of the flush thread: its consumer name and its own stop and crash flags, so a
    thread that lingers after a crash can never be revived by the next `start()`."""

    consumer: str
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    crashed: bool = False
    thread: threading.Thread | None = None

    def alive(self) -> bool:
        """May this generation still commit and acknowledge?"""
        return not self.crashed


class FlushWorker:
    """The flush thread of a `WriteBehind`, as the `Worker` capability chaos tests drive.

    Each `start()` begins a new generation with a new consumer name. `crash()` stops it
    abruptly (no acknowledgement, connection dropped), like SIGKILL; the next generation
    reclaims the crashed generation's pending entries first.
    """

    def __init__(self, owner: WriteBehind, node: str) -> None:
        self._owner = owner
        self.node = node
        self._count = 0
        self._current: _Generation | None = None
        self._dead: list[str] = []  # consumers of crashed generations, to reclaim
        self._lock = threading.Lock()

    @property
    def consumer(self) -> str:
        """The consumer name of the current (or last) generation."""
        return self._current.consumer if self._current is not None else f"{self.node}-0"

    def start(self) -> None:
        with self._lock:
            current = self._current
            if current is not None and not current.stop.is_set() and _running(current):
                return
            self._count += 1
            generation = _Generation(f"{self.node}-{self._count}")
            generation.thread = threading.Thread(
                target=self._run,
                args=(generation,),
                name=f"cachecheck-write-behind-{generation.consumer}",
                daemon=True,
            )
            self._current = generation
        generation.thread.start()

    def crash(self) -> None:
        """Die now: what was read but not acknowledged stays pending for the next worker."""
        generation = self._current
        if generation is None:
            return
        generation.crashed = True
        self._halt(generation)
        with self._lock:
            self._dead.append(generation.consumer)

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current batch and stop (a clean shutdown)."""
        if self._current is not None:
            self._halt(self._current, timeout)

    def is_alive(self) -> bool:
        current = self._current
        return current is not None and not current.stop.is_set() and _running(current)

    def wake(self) -> None:
        """Skip the current pause (drain wants progress now)."""
        if self._current is not None:
            self._current.wake.set()

    @staticmethod
    def _halt(generation: _Generation, timeout: float = 5.0) -> None:
        generation.stop.set()
        generation.wake.set()
        thread = generation.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, generation: _Generation) -> None:
        client = self._owner._connect()
        try:
            self._loop(client, generation)
        finally:
            client.close()

    def _loop(self, client: redis.Redis, gen: _Generation) -> None:
        own_pending = True  # start with our own pending list (after reclaiming the dead's)
        next_autoclaim = time.monotonic() + self._owner.claim_idle
        while not gen.stop.is_set():
            try:
                self._reclaim_dead(client, gen)
                batch = self._read(client, gen, own_pending)
                if own_pending and not batch:
                    own_pending = False
                    continue
                if time.monotonic() >= next_autoclaim:  # after reading, so new entries go first
                    batch = [*batch, *self._autoclaim(client, gen)]
                    next_autoclaim = time.monotonic() + self._owner.claim_idle
                if batch and not self._owner._flush(client, batch, gen.alive):
                    return  # crashed mid-batch: no acknowledgement
                if batch and len(batch) < self._owner.batch_size:
                    _pause(gen, self._owner.flush_interval)
            except (DatabaseUnavailable, _NotDurableYet, redis.RedisError) as exc:
                own_pending = True  # retry what we hold, from our pending list
                self._recover(client, gen, exc)
            except Exception:
                log.exception("write-behind worker %s: unexpected error", gen.consumer)
                own_pending = True
                _pause(gen, _RETRY_PAUSE)

    def _recover(self, client: redis.Redis, gen: _Generation, exc: Exception) -> None:
        log.debug("write-behind worker %s: %s; retrying", gen.consumer, exc)
        if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
            # The server lost the stream (a restart without persistence): recreate it.
            with contextlib.suppress(redis.RedisError):
                self._owner._ensure_group(client)
        _pause(gen, _RETRY_PAUSE)

    def _read(self, client: redis.Redis, gen: _Generation, own_pending: bool) -> list[QueuedWrite]:
        owner = self._owner
        reply = client.xreadgroup(
            _GROUP,
            gen.consumer,
            {owner._stream: "0" if own_pending else ">"},
            count=owner.batch_size,
            block=None if own_pending else _BLOCK_MS,
        )
        batch = _parse_read(reply)
        if batch and owner._waits_for_fsync:
            self._wait_fsync(client)
        return batch

    def _wait_fsync(self, client: redis.Redis) -> None:
        # XREADGROUP is itself written to the AOF after the entries it returned, so once this
        # client's writes are fsynced, so are those entries.
        local, _replicas = client.waitaof(1, 0, 2000)
        if int(local) < 1:
            raise _NotDurableYet("entries not fsynced within 2 s")

    def _autoclaim(self, client: redis.Redis, gen: _Generation) -> list[QueuedWrite]:
        idle_ms = max(1, round(self._owner.claim_idle * 1000))
        reply = client.xautoclaim(
            self._owner._stream,
            _GROUP,
            gen.consumer,
            idle_ms,
            start_id="0-0",
            count=self._owner.batch_size,
        )
        return _parse_entries(reply[1])

    def _reclaim_dead(self, client: redis.Redis, gen: _Generation) -> None:
        """Take over the pending entries of this worker's crashed generations."""
        stream = self._owner._stream
        with self._lock:
            dead = [name for name in self._dead if name != gen.consumer]
        for name in dead:
            while not gen.stop.is_set():
                pending = client.xpending_range(stream, _GROUP, "-", "+", 1000, consumername=name)
                ids: list[Any] = [item["message_id"] for item in pending]
                if not ids:
                    break
                if not client.xclaim(stream, _GROUP, gen.consumer, 0, ids, justid=True):
                    break  # nothing claimable left (deleted entries); XAUTOCLAIM cleans up
            else:
                return
            client.xgroup_delconsumer(stream, _GROUP, name)
            with self._lock:
                self._dead.remove(name)


def _running(generation: _Generation) -> bool:
    return generation.thread is not None and generation.thread.is_alive()


def _pause(gen: _Generation, seconds: float) -> None:
    if seconds > 0:
        gen.wake.wait(seconds)
    gen.wake.clear()


def _default_node() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{next(_node_ids)}"


def _parse_read(reply: Any) -> list[QueuedWrite]:
    """XREADGROUP replies: RESP3 `{stream: [[entries]]}` or RESP2 `[[stream, entries]]`."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [item[1] for item in reply]
    batch: list[QueuedWrite] = []
    for entries in streams:
        if entries and isinstance(entries[0], list):  # RESP3 wraps the entry list once more
            entries = entries[0]
        batch.extend(_parse_entries(entries))
    return batch


def _parse_entries(entries: Iterable[Any]) -> list[QueuedWrite]:
    parsed: list[QueuedWrite] = []
    for entry_id, fields in entries:
        if not fields:  # deleted after delivery (already committed): acknowledge only
            parsed.append(QueuedWrite(str(entry_id), "", 0, None))
            continue
        part = str(fields["p"])
        value = None if part == "-" else part[1:]
        parsed.append(QueuedWrite(str(entry_id), str(fields["k"]), int(fields["v"]), value))
    return parsed


def newest_per_key(batch: Iterable[QueuedWrite]) -> list[QueuedWrite]:
    """Coalesce: only the newest write of each key needs committing."""
    newest: dict[str, QueuedWrite] = {}
    for write in batch:
        if write.version == 0:
            continue
        if write.key not in newest or newest[write.key].version < write.version:
            newest[write.key] = write
    return list(newest.values())


def persistence_of(world: Any) -> PersistenceSpec:
    """The persistence of a world's Redis server (none when unknown, e.g. an external one)."""
    options = getattr(world.redis_server, "options", None)
    spec = getattr(options, "persistence", None)
    return spec if isinstance(spec, PersistenceSpec) else PersistenceSpec()


register_reference(
    Reference(
        "write_behind",
        lambda world: WriteBehind(
            world.client,
            world.database,
            world.namespace,
            persistence=persistence_of(world),
            clock=world.clock,
        ),
        write_behind_contract(),
        "Write-behind: Redis Stream queue, versioned idempotent apply, XACK after commit.",
    )
)
