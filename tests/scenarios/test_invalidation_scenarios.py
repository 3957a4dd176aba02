"""Lost invalidations: a node's links broken while another node writes (Pub/Sub and Stream),
and an acknowledged DEL lost in Redis's persistence window."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scenario_helpers import caught, report_ready

from cachecheck import World
from cachecheck.scenarios import InvalidationParams, run_invalidation_loss, run_stale_after_restart
from cachecheck.strategies.cache_aside import LeasedCacheAside, leased_contract
from cachecheck.strategies.invalidation import (
    PubSubInvalidation,
    StreamInvalidation,
    event_contract,
)

PARTITION = InvalidationParams(fault="partition")


@pytest.mark.parametrize(
    ("cls", "durable"), [(PubSubInvalidation, False), (StreamInvalidation, True)]
)
def test_the_cut_off_node_reads_stale_then_converges(
    world: World, cls: type, durable: bool
) -> None:
    """During the partition the node keeps serving its own copy (stale reads, measured and
    within the L1 TTL the contract allows); after the heal it converges: Pub/Sub by flushing
    on resubscribe, the stream by replaying what it missed."""

    def factory(w: World) -> object:
        return cls(w.client, w.database, w.namespace, clock=w.clock)

    contract = event_contract(cls.strategy, durable=durable)  # type: ignore[attr-defined]
    result = report_ready(run_invalidation_loss(world, factory, contract, params=PARTITION))
    m = result.measurements
    assert result.passed, result.summary()
    assert m["stale_reads"] > 0 and m["drained"]
    assert m["max_staleness_ms"] <= m["staleness_bound_ms"]


def test_pubsub_without_a_flush_on_reconnect_stays_stale(world: World) -> None:
    caught(world, "invalidation_pubsub_no_flush_on_reconnect", "convergence")


def test_a_stream_consumer_resuming_from_the_end_skips_invalidations(world: World) -> None:
    caught(world, "invalidation_stream_resumes_from_end", "convergence")


def leased(world: World) -> LeasedCacheAside:
    return LeasedCacheAside(world.client(), world.database, world.namespace, clock=world.clock)


def test_a_del_lost_in_the_snapshot_window_resurrects_stale_entries(
    world_on: Callable[[str], World],
) -> None:
    """RDB: the snapshot holds the old entries, the acknowledged DELs are lost with the
    process; every key comes back stale and the checkers say so."""
    result = report_ready(run_stale_after_restart(world_on("rdb"), leased, leased_contract()))
    assert not result.passed
    assert {"convergence", "read_your_writes"} <= result.violated
    assert result.measurements["resurrected_keys"] == 3


def test_fsync_always_keeps_the_del(world_on: Callable[[str], World]) -> None:
    result = report_ready(
        run_stale_after_restart(world_on("aof:always"), leased, leased_contract())
    )
    assert result.passed, result.summary()
    assert result.measurements["resurrected_keys"] == 0
