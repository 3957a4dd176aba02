"""Manual invalidation, and event-driven invalidation over Pub/Sub and Streams."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from cachecheck._clock import ManualClock
from cachecheck.strategies._mutants_core import (
    ManualDeleteNotInvalidated,
    PubSubNoFlushOnReconnect,
    StreamResumesFromEnd,
)
from cachecheck.strategies.invalidation import (
    ManualInvalidation,
    NearCache,
    NodePair,
    PubSubInvalidation,
    StreamInvalidation,
)

# -- manual -------------------------------------------------------------------------------


def test_invalidate_after_an_out_of_band_change(world: Any, make: Any) -> None:
    cache = make(ManualInvalidation)
    world.database.write("a", "1")
    world.database.write("b", "1")
    cache.get("a")
    cache.get("b")
    world.database.write("a", "2")
    world.database.write("b", "2")
    assert cache.get("a") == "1"
    cache.invalidate("a")
    cache.invalidate_many(["b", "b"])
    assert (cache.get("a"), cache.get("b")) == ("2", "2")


@pytest.mark.parametrize(
    ("cls", "served"), [(ManualInvalidation, None), (ManualDeleteNotInvalidated, "v")]
)
def test_delete_path(world: Any, make: Any, cls: type, served: str | None) -> None:
    """Mutant `invalidation_manual_delete_not_invalidated` serves the deleted value."""
    cache = make(cls)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    cache.delete("k")
    assert cache.get("k") == served


# -- the near cache ------------------------------------------------------------------------


def test_near_cache_serves_only_while_resumed_and_expires_on_its_clock() -> None:
    clock = ManualClock()
    l1 = NearCache(clock, ttl=5)
    assert not l1.put("k", "v", l1.begin())  # not serving yet
    l1.resume()
    assert l1.put("k", "v", l1.begin())
    assert l1.get("k") == "v"
    l1.pause()
    assert l1.get("k") is None
    l1.resume()
    assert l1.get("k") == "v"  # kept across a pause
    clock.advance(5)
    assert l1.get("k") is None


def test_near_cache_refuses_fills_overtaken_by_an_invalidation() -> None:
    l1 = NearCache(ManualClock(), ttl=5)
    l1.resume()
    started = l1.begin()
    l1.invalidate("k")
    assert not l1.put("k", "old", started)
    assert l1.put("other", "v", started)  # other keys are unaffected
    started = l1.begin()
    l1.flush()
    assert not l1.put("other", "v", started)
    assert l1.put("k", "new", l1.begin())


def test_near_cache_is_bounded() -> None:
    l1 = NearCache(ManualClock(), ttl=5, max_entries=3)
    l1.resume()
    for i in range(5):
        l1.put(f"k{i}", "v", l1.begin())
    assert len(l1) == 3
    assert l1.get("k0") is None and l1.get("k4") == "v"


# -- event-driven nodes ----------------------------------------------------------------------


NodeMaker = Callable[..., Any]


@pytest.fixture
def nodes(make: Any) -> NodeMaker:
    """`nodes(cls)`: two ready nodes of `cls` (reader A, writer B) on the same Redis."""

    def build(cls_a: type, cls_b: type | None = None, **options: Any) -> tuple[Any, Any]:
        a = make(cls_a, node="a", **options)
        b = make(cls_b or cls_a, node="b", **options)
        assert a.drain(5) and b.drain(5)
        return a, b

    return build


def _cache_in_l1(world: Any, node: Any, key: str, value: str) -> None:
    world.database.write(key, value)
    assert node.get(key) == value
    hits = node.l1_hits
    assert node.get(key) == value
    assert node.l1_hits == hits + 1


@pytest.mark.parametrize("cls", [PubSubInvalidation, StreamInvalidation])
def test_a_write_on_one_node_invalidates_the_others(
    world: Any, nodes: NodeMaker, cls: type
) -> None:
    a, b = nodes(cls)
    _cache_in_l1(world, a, "k", "v1")
    b.set("k", "v2")
    assert a.drain(5)
    assert a.get("k") == "v2"
    assert a.invalidations_received >= 1


@pytest.mark.parametrize("cls", [PubSubInvalidation, StreamInvalidation])
def test_the_writing_node_reads_its_write_at_once(world: Any, nodes: NodeMaker, cls: type) -> None:
    a, _ = nodes(cls)
    _cache_in_l1(world, a, "k", "v1")
    a.set("k", "v2")
    assert a.get("k") == "v2"  # no need to wait for its own message


@pytest.mark.parametrize("cls", [PubSubInvalidation, StreamInvalidation])
def test_an_l1_hit_costs_no_round_trip(
    world: Any, nodes: NodeMaker, redis_calls: Any, cls: type
) -> None:
    a, _ = nodes(cls)
    _cache_in_l1(world, a, "k", "v1")
    with redis_calls() as calls:
        assert a.get("k") == "v1"
    assert calls == []


class Outage:
    """Cut node A's invalidation feed (CLIENT KILL) and hold its reconnect until `heal`."""

    def __init__(self, node: Any, kill_client: Callable[[str], int], eventually: Any) -> None:
        self.node = node
        self._gate = threading.Event()
        self._kill = kill_client
        self._eventually = eventually
        node.before_reconnect = lambda: self._gate.wait(5)

    def __enter__(self) -> Outage:
        assert self._kill(self.node.listener_name) >= 1
        assert self._eventually(lambda: not self.node.l1.serving)  # the node noticed
        return self

    def __exit__(self, *exc: object) -> None:
        self._gate.set()
        assert self.node.drain(5)


@pytest.fixture
def outage(kill_client: Callable[[str], int], eventually: Any) -> Callable[[Any], Outage]:
    return lambda node: Outage(node, kill_client, eventually)


def test_pubsub_loses_messages_published_during_a_disconnect(
    world: Any, nodes: NodeMaker, outage: Any
) -> None:
    """At-most-once: the invalidation published while A was disconnected never reaches A.
    A stops serving its L1 as soon as it notices and starts empty after resubscribing, so
    it still reads the new value."""
    a, b = nodes(PubSubInvalidation)
    _cache_in_l1(world, a, "k", "v1")
    received = a.invalidations_received
    with outage(a):
        b.set("k", "v2")
        assert a.get("k") == "v2"  # L1 not served while the feed is down
    assert a.invalidations_received == received  # the message is lost for good
    assert a.get("k") == "v2"


def test_pubsub_no_flush_on_reconnect_mutant(world: Any, nodes: NodeMaker, outage: Any) -> None:
    """Mutant `invalidation_pubsub_no_flush_on_reconnect`: after the reconnect A serves the
    L1 entry the lost message should have removed (stale until the L1 TTL)."""
    a, b = nodes(PubSubNoFlushOnReconnect, PubSubInvalidation)
    _cache_in_l1(world, a, "k", "v1")
    with outage(a):
        b.set("k", "v2")
    assert a.get("k") == "v1"
    assert world.database.read("k") == "v2"


def test_stream_replays_events_missed_during_a_disconnect(
    world: Any, nodes: NodeMaker, outage: Any
) -> None:
    """Durable: A resumes from its last event ID, applies the invalidation it missed, and
    keeps the rest of its L1 across the disconnect."""
    a, b = nodes(StreamInvalidation)
    _cache_in_l1(world, a, "k", "v1")
    _cache_in_l1(world, a, "other", "x")
    received = a.invalidations_received
    with outage(a):
        b.set("k", "v2")
    assert a.invalidations_received == received + 1
    assert a.get("k") == "v2"
    hits = a.l1_hits
    assert a.get("other") == "x"
    assert a.l1_hits == hits + 1  # survived the disconnect


def test_stream_resumes_from_end_mutant(world: Any, nodes: NodeMaker, outage: Any) -> None:
    """Mutant `invalidation_stream_resumes_from_end`: events of the gap are skipped."""
    a, b = nodes(StreamResumesFromEnd, StreamInvalidation)
    _cache_in_l1(world, a, "k", "v1")
    with outage(a):
        b.set("k", "v2")
    assert a.get("k") == "v1"


def test_stream_trimmed_past_the_position_flushes(
    world: Any, nodes: NodeMaker, outage: Any
) -> None:
    """When the events A missed were trimmed away, A cannot replay them: it flushes."""
    a, b = nodes(StreamInvalidation)
    _cache_in_l1(world, a, "k", "v1")
    with outage(a):
        b.set("k", "v2")
        world.admin_client().xtrim(a._events, maxlen=0)
    assert len(a.l1) == 0
    assert a.get("k") == "v2"


@pytest.mark.parametrize("name", ["invalidation_pubsub", "invalidation_stream"])
def test_registered_as_two_nodes(world: Any, closing: Any, name: str) -> None:
    """The registered subject reads on node "a" and writes on node "b", so the suite
    exercises delivery; read-your-writes across nodes is not promised."""
    from cachecheck.strategies._registry import REFERENCES

    pair = closing(REFERENCES[name].factory(world))
    assert isinstance(pair, NodePair)
    assert pair.drain(5)
    world.database.write("k", "v1")
    assert pair.get("k") == "v1"
    pair.set("k", "v2")
    assert pair.drain(5)
    assert pair.get("k") == "v2"
    assert pair.reader.invalidations_received >= 1
    assert not pair.contract.read_your_writes
    assert pair.contract == REFERENCES[name].contract


def test_contracts(make: Any) -> None:
    pubsub = make(PubSubInvalidation, l1_ttl=3).contract
    stream = make(StreamInvalidation, l1_ttl=3).contract
    assert pubsub.staleness_bound == stream.staleness_bound == 3
    assert pubsub.converges and stream.converges
    assert stream.ttl is not None and "*invalidation_stream:events" in stream.ttl.exempt
    assert "at-most-once" in pubsub.notes
