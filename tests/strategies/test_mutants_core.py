"""The registry of core references and their mutants: every name, contract and factory."""

from __future__ import annotations

from typing import Any

import pytest

import cachecheck.strategies._mutants_core  # noqa: F401 - registers the mutants
from cachecheck._subject import Drainable, HasWorker, Subject, Taggable, Warmable, capabilities
from cachecheck.strategies._registry import MUTANTS, REFERENCES
from cachecheck.strategies.invalidation import NodePair

CORE = {
    "cache_aside": frozenset({"delete"}),
    "cache_aside_leased": frozenset({"delete"}),
    "write_through": frozenset({"delete"}),
    "write_behind": frozenset({"delete", "drain", "worker", "close"}),
    "refresh_ahead": frozenset({"delete", "drain", "close"}),
    "ttl_jitter": frozenset({"delete"}),
    "invalidation_manual": frozenset({"delete"}),
    "invalidation_pubsub": frozenset({"delete", "drain", "close"}),
    "invalidation_stream": frozenset({"delete", "drain", "close"}),
    "tags": frozenset({"delete", "tags"}),
    "negative": frozenset({"delete"}),
    "warming": frozenset({"delete", "warm"}),
}
PROPERTIES = {
    "convergence", "staleness", "read_your_writes", "no_phantom_reads", "durability",
    "single_flight", "ttl", "negative", "tags",
}  # fmt: skip
CORE_MUTANTS = sorted(name for name, m in MUTANTS.items() if m.strategy in CORE)


def _build(world: Any, closing: Any, factory: Any) -> Any:
    subject = closing(factory(world))
    assert isinstance(subject, Subject)
    return subject


@pytest.mark.parametrize("name", sorted(CORE))
def test_reference_is_registered_and_builds(world: Any, closing: Any, name: str) -> None:
    """Each reference builds on a world, offers exactly its capabilities (synchronous caches
    must not look Drainable, or the suite would wait before judging them), round-trips a
    value, and its instance contract equals the registered default."""
    reference = REFERENCES[name]
    subject = _build(world, closing, reference.factory)
    found = capabilities(subject) - {"close"}
    assert found == CORE[name] - {"close"}
    assert subject.contract == reference.contract
    assert reference.contract.name == name
    subject.set("k", "v")
    if isinstance(subject, Drainable):
        assert subject.drain(5)
    assert subject.get("k") == "v"


def test_capability_protocols(world: Any, closing: Any) -> None:
    assert isinstance(_build(world, closing, REFERENCES["tags"].factory), Taggable)
    assert isinstance(_build(world, closing, REFERENCES["warming"].factory), Warmable)
    assert isinstance(_build(world, closing, REFERENCES["write_behind"].factory), HasWorker)


def test_every_core_strategy_has_a_mutant() -> None:
    assert {MUTANTS[name].strategy for name in CORE_MUTANTS} == set(CORE)


@pytest.mark.parametrize("name", CORE_MUTANTS)
def test_mutant_is_a_minimal_variant_of_its_reference(world: Any, closing: Any, name: str) -> None:
    """A mutant claims its reference's contract, names a known property, and builds a
    subclass of the reference's class."""
    mutant = MUTANTS[name]
    reference = REFERENCES[mutant.strategy]
    assert mutant.contract == reference.contract
    assert mutant.caught_by in PROPERTIES
    assert mutant.bug_class and mutant.description
    built = _node(_build(world, closing, mutant.factory))
    expected = type(_node(_build(world, closing, reference.factory)))
    assert isinstance(built, expected) and type(built) is not expected
    assert type(built).__bases__ == (expected,)


def _node(subject: Any) -> Any:
    """The cache class under a two-node deployment (the reading node holds the bug)."""
    return subject.reader if isinstance(subject, NodePair) else subject
