"""Invalidation: manual (an explicit `invalidate` API) and event-driven (writers announce
invalidations; every cache node drops its in-process copy).

- `ManualInvalidation`: leased cache-aside with a public `invalidate(key)` for code that
  changes the database behind the cache's back (migrations, admin tools, other services).
- `PubSubInvalidation`: each node keeps a small in-process L1 (a dict with its own TTL) in front
  of the shared Redis L2. Writers delete the L2 entry and PUBLISH the key; every node's
  subscriber thread drops it from its L1. Pub/Sub is at-most-once: a message published while a
  subscriber is disconnected is lost for good. The node therefore stops serving (and flushes)
  its L1 as soon as it notices the link is down, and only serves it again after the
  resubscription is confirmed; between the loss and its detection, reads may be stale, at
  worst until the L1 TTL. The checks show exactly this window.
- `StreamInvalidation`: the same nodes, but writers XADD the key to a Redis Stream and each
  node reads it with plain XREAD from the last ID it processed. After a disconnect the node
  resumes where it stopped and replays what it missed, so its L1 survives disconnects. It
  flushes only when events may really be gone: the stream was trimmed past its position, or
  the server restarted.

Both event-driven nodes refuse an L1 fill that an invalidation overtook: a fill records a
sequence number before reading L2, and an invalidation (or flush) seen meanwhile voids it (the
two-connection race of Redis client-side caching).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract
from cachecheck._database import Database

from ._registry import Reference, register_reference

if TYPE_CHECKING:
    from cachecheck._world import World
from .cache_aside import (
    DEFAULT_LEASE_TTL,
    DEFAULT_TTL,
    ClientFactory,
    FillHook,
    LeasedCacheAside,
    leased_contract,
    text,
)

__all__ = [
    "ManualInvalidation",
    "NearCache",
    "NodePair",
    "PubSubInvalidation",
    "StreamInvalidation",
    "event_contract",
    "manual_contract",
    "node_pair",
    "pair_contract",
]

log = logging.getLogger(__name__)

DEFAULT_L1_TTL: Final = 5.0
_node_ids = itertools.count(1)
_BLOCK_MS: Final = 100


def _default_node() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{next(_node_ids)}"


# -- manual ------------------------------------------------------------------------------


def manual_contract(ttl: float = DEFAULT_TTL, lease_ttl: float = DEFAULT_LEASE_TTL) -> Contract:
    return leased_contract("invalidation_manual", ttl=ttl, lease_ttl=lease_ttl)


class ManualInvalidation(LeasedCacheAside):
    """Leased cache-aside plus an explicit invalidation API.

    Writes through this cache invalidate after committing. Code that changes the database
    directly must call `invalidate(key)` (or `invalidate_many`) *after* its commit: invalidating
    before the commit lets a concurrent reader refill the old value.

    When to use: a cache whose data also changes outside its own write path, where the changing
    code can name the keys it touched.

    Contract: as `LeasedCacheAside` (converges, read-your-writes, no stale sets), provided every
    out-of-band change is followed by `invalidate`.

    Cost: an invalidation is one DEL of the entry and its lease (any number of keys in one call).
    """

    strategy = "invalidation_manual"

    @property
    def contract(self) -> Contract:
        return manual_contract(self.ttl, self.lease_ttl)

    def invalidate(self, key: str) -> None:
        """Drop `key` from the cache (and void any fill in flight). Call after the commit."""
        self._invalidate(key)

    def invalidate_many(self, keys: Iterable[str]) -> None:
        """Drop several keys in one round trip."""
        unique = list(dict.fromkeys(keys))
        names = [name for key in unique for name in self._invalidation_keys(key)]
        if not names:
            return
        try:
            self._redis.delete(*names)
        except redis.RedisError:
            for key in unique:  # retried one by one by retry_pending() and the next read
                self._remember(key, partial(self._invalidate, key))
            raise


# -- the near cache (L1) ------------------------------------------------------------------------


class NearCache:
    """A node's in-process L1: a bounded LRU dict with its own TTL on the injected clock.

    It serves only while `serving` (the node's invalidation feed is healthy). Every
    invalidation and flush bumps a sequence number; `put(key, value, started)` refuses a fill
    that began (`begin()`) before an invalidation of that key or before a flush.
    """

    #: Invalidation marks kept before they are folded into one floor (bounds memory).
    MAX_MARKS: Final = 10_000

    def __init__(self, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("NearCache needs ttl > 0 and max_entries >= 1")
        self._clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0
        self._marks: dict[str, int] = {}  # key -> seq of its last invalidation
        self._floor = 0  # fills begun before this seq are refused
        self._serving = False

    @property
    def serving(self) -> bool:
        return self._serving

    def get(self, key: str) -> str | None:
        with self._lock:
            if not self._serving:
                return None
            found = self._entries.get(key)
            if found is None:
                return None
            value, expires_at = found
            if self._clock.now() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def begin(self) -> int:
        """Mark the start of a fill; pass the result to `put`."""
        with self._lock:
            return self._seq

    def put(self, key: str, value: str, started: int) -> bool:
        with self._lock:
            if not self._serving or self._floor > started or self._marks.get(key, 0) > started:
                return False
            self._entries[key] = (value, self._clock.now() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._seq += 1
            self._entries.pop(key, None)
            self._marks[key] = self._seq
            if len(self._marks) > self.MAX_MARKS:  # fold: void every fill in flight instead
                self._marks.clear()
                self._floor = self._seq

    def flush(self) -> None:
        """Drop everything and void fills in flight."""
        with self._lock:
            self._seq += 1
            self._floor = self._seq
            self._entries.clear()
            self._marks.clear()

    def pause(self) -> None:
        """Stop serving and filling, keep the entries (the feed will catch up)."""
        with self._lock:
            self._serving = False

    def resume(self) -> None:
        with self._lock:
            self._serving = True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# -- event-driven nodes -------------------------------------------------------------------------


def event_contract(
    name: str,
    *,
    ttl: float = DEFAULT_TTL,
    l1_ttl: float = DEFAULT_L1_TTL,
    lease_ttl: float = DEFAULT_LEASE_TTL,
    durable: bool,
) -> Contract:
    delivery = (
        "durable (stream replay after disconnects)"
        if durable
        else "at-most-once (messages published during a disconnect are lost)"
    )
    exempt = (f"*{name}:events",) if durable else ()
    return leased_contract(
        name,
        ttl=ttl,
        lease_ttl=lease_ttl,
        staleness_bound=l1_ttl,
        exempt=exempt,
        notes=(
            f"Per-node L1 invalidated by events, delivery {delivery}. A node stops serving its "
            f"L1 while its feed is down; until it notices, reads may be stale, at most the L1 "
            f"TTL ({l1_ttl} s). Redis (L2) itself is leased cache-aside and converges."
        ),
    )


class _EventNode(LeasedCacheAside):
    """A cache node: in-process L1 + leased Redis L2 + a listener thread for invalidations."""

    def __init__(
        self,
        connect: ClientFactory,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        l1_ttl: float = DEFAULT_L1_TTL,
        l1_max_entries: int = 10_000,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        reconnect_delay: float = 0.05,
        node: str | None = None,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            connect(),
            database,
            namespace,
            ttl=ttl,
            lease_ttl=lease_ttl,
            clock=clock,
            before_fill=before_fill,
        )
        self._connect = connect
        self.node = node or _default_node()
        self.l1_ttl = l1_ttl
        self.reconnect_delay = reconnect_delay
        self._l1 = NearCache(self._clock, l1_ttl, l1_max_entries)
        #: Test hook: runs in the listener thread before each reconnect.
        self.before_reconnect: Callable[[], None] | None = None
        #: Statistics for tests and reports (approximate under concurrent use).
        self.l1_hits = 0
        self.invalidations_received = 0
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._listen_forever, name=f"cachecheck-{self.strategy}-{self.node}", daemon=True
        )
        self._thread.start()

    @property
    def listener_name(self) -> str:
        """CLIENT SETNAME of the listener connection (tests kill it by this name)."""
        return f"{self._keys.namespace}{self.strategy}:listener:{self.node}"

    @property
    def l1(self) -> NearCache:
        return self._l1

    # -- Subject ------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        cached = self._l1.get(key)
        if cached is not None:
            self.l1_hits += 1
            return cached
        started = self._l1.begin()
        value = super().get(key)
        if value is not None:
            self._l1.put(key, value, started)
        return value

    def set(self, key: str, value: str) -> None:
        version = self._db.write(key, value)
        self._l1.invalidate(key)  # our own node at once, whatever happens to Redis
        self._invalidate(key, version)

    def delete(self, key: str) -> None:
        version = self._db.delete(key)
        self._l1.invalidate(key)
        self._invalidate(key, version)

    def _drop(self, key: str, version: int | None) -> None:
        """Invalidate the L2 entry and announce the key, atomically in one round trip."""
        pipe = self._redis.pipeline(transaction=True)
        arg = "" if version is None else str(version)
        self._invalidate_script(keys=self._invalidation_keys(key), args=[arg], client=pipe)
        self._announce(pipe, key)
        pipe.execute()

    def _announce(self, pipe: redis.client.Pipeline, key: str) -> None:
        raise NotImplementedError

    def drain(self, timeout: float) -> bool:
        """Wait until this node has applied every invalidation announced before the call."""
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._redis.close()

    # -- the listener ---------------------------------------------------------------------------

    def _listen_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen_once()
            except Exception as exc:  # any failure of the feed means "link lost"
                log.debug("%s listener %s: %s", self.strategy, self.node, exc)
            self._on_link_lost()
            if self._stop.is_set():
                break
            if self.before_reconnect is not None:
                self.before_reconnect()
            self._stop.wait(self.reconnect_delay)

    def _listen_once(self) -> None:
        raise NotImplementedError

    def _on_link_lost(self) -> None:
        """The feed is down: invalidations may be missed from now on."""
        self._l1.pause()

    def _listener_client(self) -> redis.Redis:
        client = self._connect()
        # Every connection of this client (including pub/sub ones) announces its name.
        client.connection_pool.connection_kwargs["client_name"] = self.listener_name
        return client

    def _received(self, key: str) -> None:
        self._l1.invalidate(key)
        with self._progress:
            self.invalidations_received += 1

    def _wait_for(self, done: Callable[[], bool], deadline: float) -> bool:
        with self._progress:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, 0.05))
        return True


# -- pub/sub ------------------------------------------------------------------------------------


class PubSubInvalidation(_EventNode):
    """A cache node whose L1 is invalidated over Redis Pub/Sub (at-most-once).

    When to use: many application nodes, a hot working set small enough for each node's
    memory, and a tolerance for reads stale by up to the L1 TTL during network trouble.

    Contract: L2 as `LeasedCacheAside`; read-your-writes on the writing node (it drops its own
    L1 synchronously); other nodes see a write when the message arrives. A message lost while
    the subscriber is disconnected is never redelivered: the node stops serving and flushes its
    L1 when it notices (socket error, or no PONG within `ping_interval + ping_timeout`) and
    serves again only after resubscribing, so staleness is bounded by the detection time and at
    most by the L1 TTL, and the node converges once reconnected (`drain` waits for that).

    Cost: an L1 hit costs no Redis round trip; a write is a database write + one MULTI (DEL,
    PUBLISH); one subscriber connection and thread per node; a PING every `ping_interval`.
    """

    strategy = "invalidation_pubsub"

    def __init__(
        self,
        connect: ClientFactory,
        database: Database,
        namespace: str,
        *,
        ping_interval: float = 1.0,
        ping_timeout: float = 1.0,
        **options: Any,
    ) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._channel = f"{namespace}{self.strategy}:channel"
        self._markers = itertools.count(1)
        self._last_marker = ""
        super().__init__(connect, database, namespace, **options)

    @property
    def contract(self) -> Contract:
        return event_contract(
            self.strategy, ttl=self.ttl, l1_ttl=self.l1_ttl, lease_ttl=self.lease_ttl, durable=False
        )

    def _announce(self, pipe: redis.client.Pipeline, key: str) -> None:
        pipe.publish(self._channel, f"k:{key}")

    def drain(self, timeout: float) -> bool:
        """Wait until this node's subscriber has seen everything published before the call."""
        deadline = time.monotonic() + timeout
        if not self.retry_pending(timeout):
            return False
        while time.monotonic() < deadline:
            marker = f"{self.node}:{next(self._markers)}"
            try:  # channel order: once our marker arrives, so has every earlier message
                self._redis.publish(self._channel, f"d:{marker}")
            except redis.RedisError:
                time.sleep(0.05)
                continue
            if self._wait_for(
                partial(self._saw_marker, marker), min(deadline, time.monotonic() + 0.2)
            ):
                return True
        return False

    def _saw_marker(self, marker: str) -> bool:
        return self._last_marker == marker and self._l1.serving

    def _listen_once(self) -> None:
        client = self._listener_client()
        pubsub: redis.client.PubSub = client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self._channel)
            self._await_subscription(pubsub)
            self._on_link_ready()
            self._pump(pubsub)
        finally:
            pubsub.close()
            client.close()

    def _await_subscription(self, pubsub: redis.client.PubSub) -> None:
        deadline = time.monotonic() + self.ping_interval + self.ping_timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            message = pubsub.get_message(timeout=0.05)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.ConnectionError("no SUBSCRIBE confirmation")

    def _on_link_ready(self) -> None:
        """Subscribed (again): whatever was published meanwhile is lost, so start empty."""
        self._l1.flush()
        self._l1.resume()

    def _pump(self, pubsub: redis.client.PubSub) -> None:
        last_heard = time.monotonic()
        pinged = False
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=0.05)
            now = time.monotonic()
            if message is not None:
                last_heard, pinged = now, False
                self._handle(message)
            elif now - last_heard > self.ping_interval + self.ping_timeout:
                raise redis.ConnectionError("subscriber link silent: no PONG")
            elif now - last_heard > self.ping_interval and not pinged:
                pubsub.ping()
                pinged = True

    def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] != "message":
            return
        data = text(message["data"]) or ""
        kind, _, body = data.partition(":")
        if kind == "k":
            self._received(body)
        elif kind == "d":
            with self._progress:
                self._last_marker = body
                self._progress.notify_all()


# -- stream -------------------------------------------------------------------------------------


def _stream_id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


class StreamInvalidation(_EventNode):
    """A cache node whose L1 is invalidated from a Redis Stream (durable, replayable).

    When to use: as `PubSubInvalidation`, when a node must not keep serving values a missed
    invalidation should have removed, and its L1 should survive short disconnects.

    Contract: L2 as `LeasedCacheAside`; read-your-writes on the writing node. Each node XREADs
    from the last ID it processed, so a disconnect delays invalidations but loses none; while
    the feed is down the node stops serving its L1 (keeping it), and serves again once it has
    caught up. It flushes its L1 when events may be gone: the stream was trimmed past its
    position (`max_events`, counted with `entries-added`) or the server restarted. Staleness
    is bounded by the L1 TTL.

    Cost: an L1 hit costs no Redis round trip; a write is a database write + one MULTI (DEL,
    XADD with approximate MAXLEN); one blocking XREAD connection and thread per node; a stream
    of at most about `max_events` entries (exempt from TTLs: it is the durable log).
    """

    strategy = "invalidation_stream"

    def __init__(
        self,
        connect: ClientFactory,
        database: Database,
        namespace: str,
        *,
        max_events: int = 10_000,
        **options: Any,
    ) -> None:
        self.max_events = max_events
        self._events = f"{namespace}{self.strategy}:events"
        self._position: str | None = None  # last event ID this node processed
        self._offset = 0  # how many events the stream had received up to _position
        self._listener_id: int | None = None  # the blocking reader's connection, to wake it
        self._run_id: str | None = None
        super().__init__(connect, database, namespace, **options)

    @property
    def contract(self) -> Contract:
        return event_contract(
            self.strategy, ttl=self.ttl, l1_ttl=self.l1_ttl, lease_ttl=self.lease_ttl, durable=True
        )

    def _announce(self, pipe: redis.client.Pipeline, key: str) -> None:
        pipe.xadd(self._events, {"k": key}, maxlen=self.max_events, approximate=True)

    def drain(self, timeout: float) -> bool:
        """Wait until this node processed every event appended before the call."""
        deadline = time.monotonic() + timeout
        if not self.retry_pending(timeout):
            return False
        target = None
        while target is None:
            try:
                target = self._stream_end(self._redis)
            except redis.RedisError:  # a dropped connection: the next attempt reconnects
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)

        def caught_up() -> bool:
            position = self._position
            return (
                self._l1.serving
                and position is not None
                and _stream_id(position) >= _stream_id(target)
            )

        return self._wait_for(caught_up, deadline)

    def _stream_state(self, client: redis.Redis) -> tuple[str, int, int] | None:
        """(last generated ID, entries ever added, current length), None if no stream."""
        try:
            info = client.xinfo_stream(self._events)
        except redis.ResponseError:
            return None
        return str(info["last-generated-id"]), int(info["entries-added"]), int(info["length"])

    def _stream_end(self, client: redis.Redis) -> str:
        state = self._stream_state(client)
        return "0-0" if state is None else state[0]

    def _resume_from(self, client: redis.Redis) -> str:
        """Where to continue reading: after the last event processed (first time: the end)."""
        if self._position is not None:
            return self._position
        state = self._stream_state(client)
        self._offset = 0 if state is None else state[1]
        return "0-0" if state is None else state[0]

    def _listen_once(self) -> None:
        client = self._listener_client()
        try:
            self._listener_id = int(client.client_id())
            self._check_continuity(client)
            position = self._resume_from(client)
            with self._progress:
                self._position = position
            # Catch up without blocking: Redis times blocking reads out at its `hz` (100 ms
            # by default), so an empty blocking first read would keep the L1 paused that long.
            position = self._read(client, position, block=None)
            while not self._stop.is_set():
                position = self._read(client, position)
        finally:
            self._listener_id = None
            client.close()

    def close(self) -> None:
        # Wake the listener from its blocking read instead of waiting out the timeout.
        self._stop.set()
        listener = self._listener_id
        if listener is not None:
            with contextlib.suppress(redis.RedisError):
                self._redis.client_unblock(listener)
        super().close()

    def _check_continuity(self, client: redis.Redis) -> None:
        """Flush the L1 when events after our position may be gone."""
        run_id = str(client.info("server")["run_id"])
        restarted = self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        if self._position is None:
            return
        if restarted or self._lost_events(client):
            log.debug("%s: invalidation events lost; flushing L1", self.node)
            self._l1.flush()
            with self._progress:
                self._position = None

    def _lost_events(self, client: redis.Redis) -> bool:
        """True when an event after our position is no longer in the stream.

        Entries are numbered by `entries-added`; ours is `_offset`. The stream holds the last
        `length` of them, so the first one still present is `added - length + 1`; anything
        between our offset and it was trimmed (or deleted) before we read it.
        """
        state = self._stream_state(client)
        if state is None:  # the stream itself is gone
            return self._offset > 0
        _last, added, length = state
        return added - length > self._offset

    def _read(self, client: redis.Redis, position: str, block: int | None = _BLOCK_MS) -> str:
        reply = client.xread({self._events: position}, count=100, block=block)
        entries = _entries_of(reply)
        for entry_id, fields in entries:
            self._received(str(fields.get("k", "")))
            position = str(entry_id)
            self._offset += 1
        with self._progress:
            self._position = position
            if len(entries) < 100 and not self._l1.serving:
                self._l1.resume()  # caught up: safe to serve again
            self._progress.notify_all()
        return position


def _entries_of(reply: Any) -> list[tuple[str, dict[str, Any]]]:
    """XREAD replies: RESP3 `{stream: [[entries]]}` or RESP2 `[[stream, entries]]`."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [item[1] for item in reply]
    found: list[tuple[str, dict[str, Any]]] = []
    for entries in streams:
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        found.extend((str(entry_id), dict(fields or {})) for entry_id, fields in entries)
    return found


register_reference(
    Reference(
        "invalidation_manual",
        lambda world: ManualInvalidation(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        manual_contract(),
        "Leased cache-aside with an explicit invalidate(key) API.",
    )
)
# -- a deployment of two nodes ------------------------------------------------------------------


def pair_contract(node_contract: Contract) -> Contract:
    """The contract of a `NodePair` of nodes keeping `node_contract`."""
    return node_contract.evolve(
        read_your_writes=False,
        notes=node_contract.notes
        + " Deployed as two nodes (reads on one, writes on the other): a write is seen by "
        "the reading node once its invalidation arrives, so read-your-writes across nodes is "
        "not promised.",
    )


class NodePair:
    """Two nodes of one event-invalidated deployment, driven as one subject: reads go to
    `reader`, writes and deletes to `writer`, so every read after a write depends on the
    invalidation reaching the reading node (a single node invalidates its own L1 directly, and
    would never exercise delivery).

    Contract: the nodes' contract without read-your-writes (see `pair_contract`).
    """

    def __init__(self, reader: _EventNode, writer: _EventNode) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def contract(self) -> Contract:
        return pair_contract(self.reader.contract)

    def get(self, key: str) -> str | None:
        return self.reader.get(key)

    def set(self, key: str, value: str) -> None:
        self.writer.set(key, value)

    def delete(self, key: str) -> None:
        self.writer.delete(key)

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return self.writer.drain(timeout) and self.reader.drain(
            max(0.0, deadline - time.monotonic())
        )

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.writer.close()

    def __repr__(self) -> str:
        return f"NodePair(reader={self.reader!r}, writer={self.writer!r})"


def node_pair(cls: type[_EventNode]) -> Callable[[World], NodePair]:
    """A factory of two `cls` nodes ("a" reads, "b" writes) on a world."""

    def build(world: World) -> NodePair:
        nodes = [
            cls(world.client, world.database, world.namespace, node=name, clock=world.clock)
            for name in ("a", "b")
        ]
        return NodePair(*nodes)

    return build


register_reference(
    Reference(
        "invalidation_pubsub",
        node_pair(PubSubInvalidation),
        pair_contract(event_contract("invalidation_pubsub", durable=False)),
        "Two nodes with L1s invalidated over Pub/Sub (at-most-once; flush on reconnect).",
    )
)
register_reference(
    Reference(
        "invalidation_stream",
        node_pair(StreamInvalidation),
        pair_contract(event_contract("invalidation_stream", durable=True)),
        "Two nodes with L1s invalidated from a Redis Stream read from the last processed ID.",
    )
)
