"""Registries of reference strategies and of their known-buggy variants (mutants).

Factories take a `World` (Redis clients through the fault proxy, the database, the namespace,
the clock) and return a subject. The mutation-score suite runs every mutant and requires the
property named in `caught_by` to fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachecheck._contract import Contract
    from cachecheck._world import World

SubjectFactory = Callable[["World"], Any]


#: Faults the stateful model can inject; a reference lists those it claims to survive.
FAULTS = frozenset(
    {
        "interleavings",
        "time",
        "eviction",
        "redis_crash",
        "worker_crash",
        "connection_kill",
        "connection_reset",
        "db_outage",
    }
)
#: Every cache should survive these: races, time, evictions and a failed database read.
DEFAULT_SURVIVES = frozenset({"interleavings", "time", "eviction", "db_outage"})


@dataclass(frozen=True)
class Reference:
    """A correct reference strategy and the contract it keeps.

    `survives` names the faults (from `FAULTS`) under which the contract still holds; the
    model injects exactly those, so a passing run means "keeps its contract under these".
    """

    name: str
    factory: SubjectFactory
    contract: Contract
    description: str = ""
    survives: frozenset[str] = DEFAULT_SURVIVES

    def __post_init__(self) -> None:
        unknown = set(self.survives) - FAULTS
        if unknown:
            raise ValueError(f"{self.name}: unknown faults {sorted(unknown)}; use {sorted(FAULTS)}")


@dataclass(frozen=True)
class Mutant:
    """A known-buggy variant of a reference strategy.

    `bug_class` names the classic mistake; `caught_by` names the property (checker or scenario)
    that must fail on it; `contract` is the contract the buggy code claims (the reference's).
    """

    name: str
    strategy: str
    bug_class: str
    description: str
    factory: SubjectFactory
    contract: Contract
    caught_by: str


REFERENCES: dict[str, Reference] = {}
MUTANTS: dict[str, Mutant] = {}


def register_reference(reference: Reference) -> Reference:
    if reference.name in REFERENCES:
        raise ValueError(f"reference strategy {reference.name!r} registered twice")
    REFERENCES[reference.name] = reference
    return reference


def register_mutant(mutant: Mutant) -> Mutant:
    if mutant.name in MUTANTS:
        raise ValueError(f"mutant {mutant.name!r} registered twice")
    MUTANTS[mutant.name] = mutant
    return mutant
