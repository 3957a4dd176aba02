"""Promises every edge reference keeps: Subject protocol, one round trip per hit, a TTL on
every key, read-your-writes; and a sane mutant registry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis

import cachecheck.strategies._mutants_edge as mutants
from cachecheck import Subject, World
from cachecheck.strategies._registry import MUTANTS, REFERENCES

EDGE_REFERENCES = ["stampede_lock", "xfetch", "breaker", "sharded", "metrics", "size_guard"]
CAUGHT_BY = {
    "single_flight", "mutual_exclusion", "staleness", "convergence", "breaker", "http", "ttl",
    "metrics", "size", "remap_fraction",
}  # fmt: skip
EDGE_MUTANTS = sorted(
    name for name, m in MUTANTS.items() if m.strategy in [*EDGE_REFERENCES, "http"]
)


def build(name: str, world: World) -> Any:
    return REFERENCES[name].factory(world)


@pytest.mark.parametrize("name", EDGE_REFERENCES)
def test_reference_is_a_subject_with_its_registered_contract(name: str, world: World) -> None:
    """Each reference implements Subject and states the contract it was registered with."""
    subject = build(name, world)
    assert subject.contract == REFERENCES[name].contract
    assert isinstance(subject, Subject)
    assert REFERENCES[name].description


@pytest.mark.parametrize("name", EDGE_REFERENCES)
def test_a_hit_costs_one_round_trip(
    name: str, world: World, count_commands: Callable[[redis.Redis, Callable[[], object]], int]
) -> None:
    """Once an entry is cached, a read is exactly one Redis command."""
    subject = build(name, world)
    world.database.write("k", "value")
    assert subject.get("k") == "value"  # miss: fills (and warms the connection)
    assert count_commands(world.admin_client(), lambda: subject.get("k")) == 1
    assert world.database.load_counts()["k"] == 1


@pytest.mark.parametrize("name", EDGE_REFERENCES)
def test_every_key_written_has_a_bounded_ttl(name: str, world: World) -> None:
    """Entries, negative entries, chunks and leases all expire within the contract's bound."""
    subject = build(name, world)
    world.database.write("small", "v")
    world.database.write("large", "é" * 3000)  # over the size guard's 1 KiB: chunks
    for key in ("small", "large", "absent"):
        subject.get(key)
    subject.set("small", "v2")
    subject.get("small")
    admin = world.admin_client()
    keys = list(admin.scan_iter(match=world.namespace + "*"))
    assert keys
    bound_ms = subject.contract.ttl.max_seconds * 1000
    for key in keys:
        assert 0 < admin.pttl(key) <= bound_ms, key


@pytest.mark.parametrize("name", EDGE_REFERENCES)
def test_reads_see_completed_writes_and_deletes(name: str, world: World) -> None:
    """Sequential read-your-writes: set, cached read, overwrite, delete, absent key."""
    subject = build(name, world)
    assert subject.get("k") is None
    subject.set("k", "a")
    assert subject.get("k") == "a"
    assert subject.get("k") == "a"
    subject.set("k", "b")
    assert subject.get("k") == "b"
    subject.delete("k")
    assert subject.get("k") is None
    assert world.database.peek_row("k") is not None  # a tombstone, written through


@pytest.mark.parametrize("name", EDGE_MUTANTS)
def test_mutant_registry_entries_are_consistent(name: str, world: World) -> None:
    """Each mutant claims its reference's contract, names a known property, and builds."""
    mutant = MUTANTS[name]
    assert mutant.caught_by in CAUGHT_BY
    assert mutant.description and mutant.bug_class
    built = mutant.factory(world)
    if mutant.strategy == "http":
        assert mutant.contract.name == "http"
        assert callable(built)
    else:
        assert mutant.contract == REFERENCES[mutant.strategy].contract
        assert isinstance(built, Subject)
        assert type(built).__name__ in mutants.__all__


def test_edge_modules_import_without_the_optional_extras() -> None:
    """uhashring, prometheus_client, starlette and anyio are imported only when used."""
    code = (
        "import sys\n"
        "for name in ('uhashring', 'prometheus_client', 'starlette', 'anyio'):\n"
        "    sys.modules[name] = None\n"
        "import cachecheck.strategies._mutants_edge\n"
        "from cachecheck.strategies._registry import REFERENCES\n"
        "print(sorted(REFERENCES))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for name in EDGE_REFERENCES:
        assert repr(name) in done.stdout
