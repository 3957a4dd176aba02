"""Lock mutual exclusion (P5), fencing-token order (P5b) and owner-only release."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import Fmt

CHECKER = "mutual_exclusion"


@dataclass(frozen=True, slots=True)
class LockHold:
    """One holder's tenure of a lock: valid from `acquired_at` until it released the lock or
    its lease expired, whichever came first."""

    resource: str
    holder: str
    acquired_at: float
    released_at: float | None
    lease_expires_at: float
    fencing_token: int | None = None

    @property
    def valid_until(self) -> float:
        if self.released_at is None:
            return self.lease_expires_at
        return min(self.released_at, self.lease_expires_at)


@dataclass(frozen=True, slots=True)
class LockRelease:
    """A release by `holder` that deleted the lock entry owned by `deleted_owner` (None when
    it deleted nothing, as a compare-and-delete does when the lock is no longer its own)."""

    resource: str
    holder: str
    at: float
    deleted_owner: str | None


def check_mutual_exclusion(
    holds: Sequence[LockHold],
    releases: Sequence[LockRelease] = (),
    *,
    origin: float | None = None,
) -> CheckResult:
    """For each resource:

    - `mutual_exclusion`: no two holds by different holders have overlapping valid intervals
      [acquired_at, min(released_at, lease_expires_at)) (touching ends are fine);
    - `fencing_monotonic`: fencing tokens, in acquisition order, strictly increase;
    - `owner_only_release`: a release never deletes a lock owned by another holder (the plain
      DEL after the lease expired, bug class 15).
    """
    if origin is None:
        origin = min((h.acquired_at for h in holds), default=0.0)
    fmt = Fmt(origin)
    per_resource: dict[str, list[LockHold]] = defaultdict(list)
    for h in holds:
        per_resource[h.resource].append(h)
    findings: list[Finding] = []
    max_overlap = 0.0
    for resource in sorted(per_resource):
        ordered = sorted(per_resource[resource], key=lambda h: (h.acquired_at, h.holder))
        overlaps = _overlaps(ordered, fmt)
        max_overlap = max([max_overlap, *(f.details["overlap_s"] for f in overlaps)])
        findings.extend(overlaps)
        findings.extend(_fencing(ordered, fmt))
    foreign = [r for r in releases if r.deleted_owner is not None and r.deleted_owner != r.holder]
    findings.extend(_foreign_release(r, fmt) for r in sorted(foreign, key=lambda r: r.at))
    measurements: dict[str, Any] = {
        "holds": len(holds),
        "resources": len(per_resource),
        "overlaps": sum(f.property == "mutual_exclusion" for f in findings),
        "max_overlap_s": max_overlap,
        "token_regressions": sum(f.property == "fencing_monotonic" for f in findings),
        "releases": len(releases),
        "foreign_releases": len(foreign),
    }
    return result(CHECKER, findings, measurements)


def _overlaps(ordered: list[LockHold], fmt: Fmt) -> list[Finding]:
    """Sweep by acquisition: each hold against the earlier hold that reaches furthest."""
    found: list[Finding] = []
    widest: LockHold | None = None
    for h in ordered:
        if widest is not None and h.acquired_at < widest.valid_until and h.holder != widest.holder:
            found.append(_overlap(widest, h, fmt))
        if widest is None or h.valid_until > widest.valid_until:
            widest = h
    return found


def _overlap(a: LockHold, b: LockHold, fmt: Fmt) -> Finding:
    overlap = min(a.valid_until, b.valid_until) - b.acquired_at
    return Finding(
        CHECKER,
        "mutual_exclusion",
        a.resource,
        f"Two holders of lock {a.resource!r} at once: {a.holder} held it from "
        f"{fmt.at(a.acquired_at)} to {fmt.at(a.valid_until)} and {b.holder} acquired it at "
        f"{fmt.at(b.acquired_at)}, overlapping for {fmt.dur(overlap)}; a lock must have at most "
        "one valid holder at a time.",
        (),
        (),
        {"holders": [a.holder, b.holder], "overlap_s": overlap},
    )


def _fencing(ordered: list[LockHold], fmt: Fmt) -> list[Finding]:
    found: list[Finding] = []
    last: LockHold | None = None
    for h in ordered:
        if h.fencing_token is None:
            continue
        if (
            last is not None
            and last.fencing_token is not None
            and h.fencing_token <= last.fencing_token
        ):
            found.append(
                Finding(
                    CHECKER,
                    "fencing_monotonic",
                    h.resource,
                    f"Fencing token went backwards on {h.resource!r}: {h.holder} acquired at "
                    f"{fmt.at(h.acquired_at)} with token {h.fencing_token}, after {last.holder} "
                    f"had acquired at {fmt.at(last.acquired_at)} with token {last.fencing_token}; "
                    "tokens must strictly increase so the resource can reject a stale holder.",
                    (),
                    (),
                    {
                        "tokens": [last.fencing_token, h.fencing_token],
                        "holders": [last.holder, h.holder],
                    },
                )
            )
        last = h
    return found


def _foreign_release(r: LockRelease, fmt: Fmt) -> Finding:
    return Finding(
        CHECKER,
        "owner_only_release",
        r.resource,
        f"{r.holder} released lock {r.resource!r} at {fmt.at(r.at)} and deleted the entry owned "
        f"by {r.deleted_owner}; a release must delete only its own lock (compare-and-delete), "
        "or the other holder loses mutual exclusion.",
        (),
        (),
        {"holder": r.holder, "deleted_owner": r.deleted_owner},
    )
