"""SizeGuard: reject with a clear error, or split into versioned chunks behind an atomic
manifest, with no torn reads under concurrent writers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from cachecheck import World
from cachecheck.strategies._mutants_edge import UnversionedChunksSizeGuard
from cachecheck.strategies.large_values import SizeGuard, SizeMode, ValueTooLargeError, split_utf8

Run = Callable[[Callable[[int], Any], int], list[Any]]


def guard(world: World, cls: type[SizeGuard] = SizeGuard, **options: Any) -> SizeGuard:
    options.setdefault("limit_bytes", 1000)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


def test_reject_mode_names_key_size_and_limit(world: World) -> None:
    """A value over the limit is refused before anything is written."""
    cache = guard(world, mode="reject")
    with pytest.raises(ValueTooLargeError) as caught:
        cache.set("report", "é" * 600)  # 1200 UTF-8 bytes
    assert (
        "'report'" in str(caught.value)
        and "1200 bytes" in str(caught.value)
        and "1000" in str(caught.value)
    )
    assert (caught.value.key, caught.value.size, caught.value.limit) == ("report", 1200, 1000)
    assert world.database.peek_row("report") is None
    cache.set("report", "é" * 500)
    assert cache.get("report") == "é" * 500


def test_reject_mode_serves_a_large_database_value_uncached(world: World) -> None:
    cache = guard(world, mode=SizeMode.REJECT)
    world.database.write("big", "x" * 5000)
    assert cache.get("big") == "x" * 5000
    assert cache.get("big") == "x" * 5000
    assert world.database.load_counts()["big"] == 2
    assert cache.stats["oversize_uncached"] == 2


def test_split_mode_round_trips_multibyte_values_in_two_round_trips(
    world: World, count_commands: Callable[[redis.Redis, Callable[[], object]], int]
) -> None:
    """A 7 KB value with 2- and 4-byte characters: chunks of at most 1000 bytes, every key
    with a TTL, a hit costs 2 commands (manifest, MGET)."""
    value = ("é😀abc" * 1000)[:4000]
    cache = guard(world)
    cache.set("big", value)
    assert cache.get("big") == value
    admin = world.admin_client()
    chunks = list(admin.scan_iter(match=cache.keys.meta("chunk", "big:*")))
    assert len(chunks) == len(split_utf8(value, 1000)) >= 8
    assert all(len(str(admin.get(c)).encode()) <= 1000 and admin.pttl(c) > 0 for c in chunks)
    assert count_commands(admin, lambda: cache.get("big")) == 2
    assert world.database.load_counts()["big"] == 1


def test_a_missing_chunk_is_a_miss_not_a_wrong_value(world: World) -> None:
    cache = guard(world)
    world.database.write("big", "y" * 3000)
    assert cache.get("big") == "y" * 3000
    admin = world.admin_client()
    admin.delete(next(iter(admin.scan_iter(match=cache.keys.meta("chunk", "big:*")))))  # "evicted"
    assert cache.get("big") == "y" * 3000
    assert cache.stats["chunk_misses"] == 1
    assert world.database.load_counts()["big"] == 2


@given(st.text(max_size=300), st.integers(min_value=4, max_value=64))
def test_split_utf8_never_cuts_a_character(value: str, limit: int) -> None:
    pieces = split_utf8(value, limit)
    assert "".join(pieces) == value
    assert all(0 < len(piece.encode("utf-8")) <= limit for piece in pieces)


@pytest.mark.parametrize(
    ("cls", "torn"),
    [(SizeGuard, False), (UnversionedChunksSizeGuard, True)],
    ids=["reference", "unversioned"],
)
def test_a_stale_fill_cannot_tear_a_newer_value(
    world: World, cls: type[SizeGuard], torn: bool
) -> None:
    """X leases and reads B; C is written and Y fills C; X's late fill writes its chunks
    (its manifest is refused). The reference's chunks are versioned, so C stays whole; the
    mutant's fixed chunk keys now hold B under C's manifest."""
    x, y, reader = (guard(world, cls, limit_bytes=256) for _ in range(3))
    b, c = "B" * 2000, "C" * 1500
    world.database.write("doc", b)
    token = x._lease.begin(x.client, x.keys.meta("lease", "doc"))
    stale = world.database.read("doc")
    y.set("doc", c)
    assert y.get("doc") == c
    x._fill("doc", token, stale)
    assert x.stats["fills_rejected"] == 1
    seen = reader.get("doc")
    assert (seen != c) is torn
    if torn:
        assert seen is not None and seen.startswith("B") and seen not in (b, c)


def test_no_torn_reads_under_concurrent_writers(world: World, concurrently: Run) -> None:
    """2 writers and 3 readers for 1 s on one key whose values span 6-12 chunks: every value
    read is one that was written."""
    written: set[str] = {"seed"}
    written_lock = threading.Lock()
    torn: list[str] = []
    counter = itertools.count()
    caches = [guard(world, limit_bytes=256) for _ in range(5)]
    deadline = time.monotonic() + 1.0

    def writer(cache: SizeGuard, tag: str) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            value = (f"{tag}{n}|" * (1 + (n * 37) % 250)).ljust(1500, ".")  # lengths differ
            with written_lock:
                written.add(value)
            cache.set("doc", value)

    def reader(cache: SizeGuard) -> None:
        while time.monotonic() < deadline:
            value = cache.get("doc")
            with written_lock:
                if value is not None and value not in written:
                    torn.append(value)

    world.database.write("doc", "seed")
    concurrently(lambda i: writer(caches[i], "AB"[i]) if i < 2 else reader(caches[i]), 5)
    assert torn == []
    assert sum(c.stats["split_fills"] for c in caches) > 0
