"""The contract: what a cache under test promises, stated as data.

Checkers read the contract and verify exactly what it says; nothing is hard-coded per strategy.
A field left at its default makes no promise (and so nothing is checked for it), except
`no_phantom_reads` and `converges`, which every sane cache should keep.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Durability(enum.Enum):
    """When an acknowledged write is safe."""

    #: The write is committed to the source of truth before it is acknowledged.
    SYNC = "sync"
    #: The write is acknowledged first and committed later (write-behind); acknowledged writes
    #: may be lost, but only those acknowledged within `Contract.loss_window` of a crash.
    ASYNC = "async"


@dataclass(frozen=True, slots=True)
class TtlPolicy:
    """Every cache entry the subject writes has `min_seconds <= TTL <= max_seconds`.

    `jitter` is the half-width of the random spread around the base TTL the subject draws from
    (0 = no jitter promised); `exempt` lists glob patterns of keys that legitimately have no TTL
    (a durable queue, a tag version counter).
    """

    max_seconds: float
    min_seconds: float = 0.0
    jitter: float = 0.0
    exempt: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"TtlPolicy needs 0 <= min_seconds <= max_seconds, got min={self.min_seconds!r}, "
                f"max={self.max_seconds!r}"
            )
        if self.jitter < 0:
            raise ValueError(f"TtlPolicy.jitter must be >= 0, got {self.jitter!r}")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A circuit breaker around the cache: opens after `failure_threshold` consecutive
    failures, stays open `reset_timeout` seconds, then lets one probe through (half-open)."""

    failure_threshold: int
    reset_timeout: float

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(
                f"BreakerPolicy.failure_threshold must be >= 1, got {self.failure_threshold!r}"
            )
        if self.reset_timeout <= 0:
            raise ValueError(f"BreakerPolicy.reset_timeout must be > 0, got {self.reset_timeout!r}")


@dataclass(frozen=True)
class Contract:
    """What a cache promises. Build one per subject; checkers verify exactly these promises.

    Times are seconds on the framework clock.
    """

    #: A short name used in reports.
    name: str = "cache"
    #: Bounded staleness Δ: a read invoked at least Δ after a write committed returns that
    #: write's value or a newer one. None promises no bound; 0 means reads are never stale
    #: once the write has completed.
    staleness_bound: float | None = None
    #: A client that completed a write then reads the same key sees that write or a newer one.
    read_your_writes: bool = False
    #: Once all operations completed and async work drained, every cache entry is absent or
    #: holds the source of truth's current value.
    converges: bool = True
    #: Every value a read returns was written by some write (or is absent).
    no_phantom_reads: bool = True
    #: When acknowledged writes are safe; see `Durability`.
    durability: Durability = Durability.SYNC
    #: With ASYNC durability: only writes acknowledged within this many seconds before a crash
    #: may be lost. None with ASYNC promises nothing about loss.
    loss_window: float | None = None
    #: At most one source-of-truth load per key per miss episode, across all clients.
    single_flight: bool = False
    #: TTL hygiene; None promises nothing.
    ttl: TtlPolicy | None = None
    #: A cached "absent" lasts at most this long; None means the subject has no negative cache.
    negative_ttl: float | None = None
    #: Breaker parameters when the subject has a circuit breaker.
    breaker: BreakerPolicy | None = None
    #: Free-form notes for reports (trade-offs, why a bound is what it is).
    notes: str = ""
    #: Extra, subject-specific promises for custom checkers.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.staleness_bound is not None and self.staleness_bound < 0:
            raise ValueError(f"staleness_bound must be >= 0 or None, got {self.staleness_bound!r}")
        if self.loss_window is not None and self.durability is not Durability.ASYNC:
            raise ValueError("loss_window only makes sense with durability=Durability.ASYNC")
        if self.negative_ttl is not None and self.negative_ttl <= 0:
            raise ValueError(f"negative_ttl must be > 0 or None, got {self.negative_ttl!r}")

    def evolve(self, **changes: Any) -> Contract:
        """Return a copy with some fields changed (the contract itself is immutable)."""
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for reports."""
        return {
            "name": self.name,
            "staleness_bound": self.staleness_bound,
            "read_your_writes": self.read_your_writes,
            "converges": self.converges,
            "no_phantom_reads": self.no_phantom_reads,
            "durability": self.durability.value,
            "loss_window": self.loss_window,
            "single_flight": self.single_flight,
            "ttl": None
            if self.ttl is None
            else {
                "min_seconds": self.ttl.min_seconds,
                "max_seconds": self.ttl.max_seconds,
                "jitter": self.ttl.jitter,
                "exempt": list(self.ttl.exempt),
            },
            "negative_ttl": self.negative_ttl,
            "breaker": None
            if self.breaker is None
            else {
                "failure_threshold": self.breaker.failure_threshold,
                "reset_timeout": self.breaker.reset_timeout,
            },
            "notes": self.notes,
            "extra": dict(self.extra),
        }
