"""Write-behind: Redis Stream queue, batching worker, crash and reclaim, versioning."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from cachecheck._contract import Durability
from cachecheck._database import Database
from cachecheck.strategies._mutants_core import (
    WriteBehindAckBeforeCommit,
    WriteBehindUnguardedApply,
)
from cachecheck.strategies.write_behind import (
    FlushWorker,
    QueuedWrite,
    WriteBehind,
    loss_window_for,
    newest_per_key,
)
from cachecheck.strategies.write_through import Versioned

FAST = {"flush_interval": 0.01, "claim_idle": 0.5}


def test_write_is_acknowledged_before_the_commit(world: Any, make: Any) -> None:
    """set returns once the write is in Redis; reads see it before the database does."""
    cache = make(WriteBehind, autostart=False, **FAST)
    cache.set("k", "v1")
    assert world.database.read("k") is None
    assert cache.get("k") == "v1"
    assert not cache.drain(0.05)  # no worker yet
    cache.worker.start()
    assert cache.drain(5)
    row = world.database.peek_row("k")
    assert (row.value, row.version) == ("v1", 1)


def test_flush_clears_the_dirty_record_and_keeps_a_ttl_entry(
    world: Any, make: Any, ttl_findings: Any
) -> None:
    """After the commit the dirty record and stream entry are gone; the cache entry has a
    TTL; the queue and counters are the declared exemptions."""
    cache = make(WriteBehind, ttl=20, **FAST)
    cache.set("k", "v1")
    cache.delete("gone")
    assert cache.drain(5)
    admin = world.admin_client()
    assert not admin.exists(cache.keys.meta("dirty", "k"))
    assert admin.xlen(cache.keys.meta("queue")) == 0
    assert 0 < admin.pttl(cache.keys.value("k")) <= 20_000
    assert ttl_findings(cache.contract) == []
    assert cache.get("gone") is None
    assert world.database.peek_row("gone").value is None


def test_a_read_hit_is_one_round_trip(make: Any, redis_calls: Any) -> None:
    cache = make(WriteBehind, **FAST)
    cache.set("k", "v")
    with redis_calls() as calls:
        assert cache.get("k") == "v"
    assert calls == ["MGET"]


def test_writes_are_coalesced_per_batch(world: Any, make: Any) -> None:
    """Five writes queued while the worker is stopped become one commit of the newest."""
    cache = make(WriteBehind, autostart=False, **FAST)
    for i in range(5):
        cache.set("k", f"v{i}")
    cache.worker.start()
    assert cache.drain(5)
    commits = [c for c in world.database.commits() if c.key == "k"]
    assert [(c.version, c.value) for c in commits] == [(5, "v4")]


def test_versions_continue_above_the_database(world: Any, make: Any) -> None:
    """The first write of a key Redis does not know continues above the database version."""
    for i in range(3):
        world.database.write("k", f"old{i}")
    cache = make(WriteBehind, **FAST)
    cache.set("k", "new")
    assert cache.drain(5)
    assert world.database.peek_row("k").version == 4
    assert world.database.read("k") == "new"


def test_counter_rolled_back_by_a_restart_is_refloored(world: Any, make: Any) -> None:
    """A counter from another server run (a restart restored an older one) is not trusted:
    the next version continues above the database, so the write is not silently dropped."""
    cache = make(WriteBehind, **FAST)
    cache.set("k", "v1")
    cache.set("k", "v2")
    assert cache.drain(5)
    world.admin_client().hset(cache.keys.meta("ctr", "k"), mapping={"v": 1, "run": "older"})
    cache.set("k", "v3")
    assert cache.drain(5)
    assert world.database.peek_row("k") is not None
    assert (world.database.peek_row("k").version, world.database.read("k")) == (3, "v3")


def test_a_fill_racing_a_write_is_refused(world: Any, make: Any, once: Any) -> None:
    """A read miss that loaded the old row does not overwrite a write queued meanwhile."""
    world.database.write("k", "v1")
    cache = make(WriteBehind, autostart=False, **FAST)
    cache.before_fill = once(lambda key: cache.set(key, "v2"))
    assert cache.get("k") == "v1"
    assert cache.get("k") == "v2"
    assert Versioned.decode(world.admin_client().get(cache.keys.value("k"))).value == "v2"


def _crash_before_first_apply(cache: WriteBehind, once: Any) -> None:
    cache.before_apply = once(lambda write: cache.worker.crash())


def test_crashed_worker_entries_are_reclaimed(
    world: Any, make: Any, once: Any, eventually: Any
) -> None:
    """A worker that dies after reading leaves the entry pending; the next worker takes it
    over (XCLAIM of the dead consumer) and commits it."""
    cache = make(WriteBehind, **FAST)
    _crash_before_first_apply(cache, once)
    cache.set("k", "v1")
    assert eventually(lambda: not cache.worker.is_alive())
    assert world.database.read("k") is None
    admin = world.admin_client()
    assert admin.xpending(cache.keys.meta("queue"), "flushers")["pending"] == 1
    cache.worker.start()
    assert cache.drain(5)
    assert world.database.read("k") == "v1"


def test_repeated_crashes_never_wedge_the_worker(world: Any, make: Any) -> None:
    """Crash/start cycles in quick succession (a crash while the next generation is still
    reclaiming) end with every write committed."""
    cache = make(WriteBehind, **FAST)
    for i in range(15):
        cache.set("k", f"v{i}")
        cache.worker.crash()
        if i % 3:
            cache.worker.crash()  # twice in a row: nothing new to reclaim
        cache.worker.start()
    assert cache.drain(5)
    assert world.database.read("k") == "v14"
    assert world.admin_client().xlen(cache.keys.meta("queue")) == 0


def test_ack_before_commit_mutant_loses_the_write(
    world: Any, make: Any, once: Any, eventually: Any
) -> None:
    """Mutant `write_behind_ack_before_commit`: the same crash loses an acknowledged write;
    nothing is pending, the queue is empty, the database never sees it."""
    cache = make(WriteBehindAckBeforeCommit, **FAST)
    _crash_before_first_apply(cache, once)
    cache.set("k", "v1")
    assert eventually(lambda: not cache.worker.is_alive())
    cache.worker.start()
    assert cache.drain(5)
    assert world.database.read("k") is None


def test_other_nodes_autoclaim_a_dead_consumer(
    world: Any, make: Any, once: Any, eventually: Any
) -> None:
    """Entries of a consumer that died in another process are taken over with XAUTOCLAIM
    once idle longer than claim_idle."""
    node_a = make(WriteBehind, node="a", **FAST)
    _crash_before_first_apply(node_a, once)
    node_a.set("k", "v1")
    assert eventually(lambda: not node_a.worker.is_alive())
    node_b = make(WriteBehind, node="b", **FAST)
    assert node_b.drain(5)
    assert world.database.read("k") == "v1"


@pytest.mark.parametrize(("cls", "final"), [(WriteBehind, "v2"), (WriteBehindUnguardedApply, "v1")])
def test_reclaimed_older_entry_after_a_newer_one(
    world: Any, make: Any, once: Any, eventually: Any, cls: type, final: str
) -> None:
    """Node A dies holding v1; node B commits v2, then reclaims v1. apply_if_newer ignores
    it; mutant `write_behind_unguarded_apply` moves the key back to v1 (cache: v2)."""
    node_a = make(cls, node="a", **FAST)
    _crash_before_first_apply(node_a, once)
    node_a.set("k", "v1")
    assert eventually(lambda: not node_a.worker.is_alive())
    node_b = make(cls, node="b", autostart=False, **FAST)
    node_b.set("k", "v2")
    node_b.worker.start()  # reads its new entry first, autoclaims after claim_idle
    assert node_b.drain(5)
    assert world.database.read("k") == final
    assert node_b.get("k") == "v2"


def test_database_outage_is_retried(world: Any, make: Any, eventually: Any) -> None:
    """Commits that fail stay pending and are retried when the database is back."""
    cache = make(WriteBehind, **FAST)
    world.database.hooks.fail_writes = True
    cache.set("k", "v1")
    assert not cache.drain(0.3)
    world.database.hooks.fail_writes = False
    assert cache.drain(5)
    assert world.database.read("k") == "v1"


def test_worker_capability_and_stop(make: Any) -> None:
    cache = make(WriteBehind, **FAST)
    assert isinstance(cache.worker, FlushWorker)
    assert cache.worker.is_alive()
    cache.worker.stop()
    assert not cache.worker.is_alive()
    cache.worker.start()
    assert cache.worker.is_alive()


def test_fsync_wait_with_aof(cachecheck_redis_factory: Any, cachecheck_db: Database) -> None:
    """With AOF persistence the worker waits for fsync (WAITAOF) before committing."""
    server = cachecheck_redis_factory(persistence="aof:everysec")

    def connect() -> redis.Redis:
        return redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)

    cache = WriteBehind(connect, cachecheck_db, "cc:", persistence="aof:everysec", **FAST)
    try:
        cache.set("k", "v1")
        assert cache.drain(5)
        assert cachecheck_db.read("k") == "v1"
        assert cache.contract.loss_window == 2.0
    finally:
        cache.close()


@pytest.mark.parametrize(
    ("persistence", "window"),
    [("aof:always", 0.0), ("aof:everysec", 2.0), ("aof:no", None), ("rdb", None), ("none", None)],
)
def test_loss_window(persistence: str, window: float | None) -> None:
    assert loss_window_for(persistence) == window


def test_contract(make: Any) -> None:
    contract = make(WriteBehind, persistence="aof:always").contract
    assert contract.durability is Durability.ASYNC
    assert contract.loss_window == 0.0
    assert contract.converges
    # Read-your-writes holds (dirty records are served) but is not a checkable promise: the
    # history cannot attribute asynchronously committed versions, so it is not claimed.
    assert not contract.read_your_writes


def test_newest_per_key_skips_deleted_stubs() -> None:
    batch = [
        QueuedWrite("1-0", "a", 1, "x"),
        QueuedWrite("2-0", "a", 3, None),
        QueuedWrite("3-0", "a", 2, "y"),
        QueuedWrite("4-0", "", 0, None),
    ]
    assert newest_per_key(batch) == [QueuedWrite("2-0", "a", 3, None)]
