"""Single-flight loading (P6): at most one source-of-truth load per key per miss episode."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cachecheck._contract import Contract
from cachecheck._history import Event, Op, OpKind
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import Fmt, by_key, origin_of

CHECKER = "single_flight"

#: Loads whose client name starts with this are background refreshes (refresh-ahead), not
#: misses: they start a new episode instead of counting towards one.
REFRESH_CLIENT_PREFIX = "refresh:"


def is_refresh(load: LoadRecord) -> bool:
    return (load.client or "").startswith(REFRESH_CLIENT_PREFIX)


#: Events after which any key may be missing from the cache (a new miss episode for all).
CACHE_LOSS_EVENTS = frozenset(
    {"redis_crash", "redis_restart", "redis.crash", "redis.restart", "cache_flushed"}
)
#: Loads listed in one finding's details, at most.
_SHOWN = 20


class LoadRecord(Protocol):
    """Anything shaped like a load: `cachecheck.Load` from the database qualifies."""

    @property
    def key(self) -> str: ...

    @property
    def at(self) -> float: ...

    @property
    def client(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Load:
    """One read of the source of truth (a cache miss that went to the database)."""

    key: str
    at: float
    client: str | None = None


def check_single_flight(
    loads: Sequence[LoadRecord],
    ops: Sequence[Op],
    contract: Contract,
    *,
    events: Sequence[Event] = (),
    expiry_event: str = "expire",
    origin: float | None = None,
) -> CheckResult:
    """With `contract.single_flight`, no two loads of a key fall in one miss episode.

    Episodes are delimited by invalidations of the key: write and delete ops (an op may
    invalidate anywhere in [invoked, completed], or any time after if it never completed) and
    expiry events (`Event(name="expire", detail={"key": k})`). Two consecutive loads of k are
    in the same episode when no invalidation of k can have happened between them; judging
    this leniently, a write overlapping the gap separates them.

    Measurements: loads, episodes (that loaded at least once), loads per episode (max, mean).
    """
    if origin is None:
        origin = origin_of(ops) if ops else min((ld.at for ld in loads), default=0.0)
    fmt = Fmt(origin)
    invalidators = by_key(ops, OpKind.WRITE, OpKind.DELETE)
    expiries: dict[str, list[float]] = defaultdict(list)
    everything_lost: list[float] = []
    for e in events:
        if e.name == expiry_event and isinstance(e.detail.get("key"), str):
            expiries[e.detail["key"]].append(e.at)
        elif e.name in CACHE_LOSS_EVENTS:
            everything_lost.append(e.at)
    grouped: dict[str, list[LoadRecord]] = defaultdict(list)
    refreshes: dict[str, list[float]] = defaultdict(list)
    for ld in loads:
        if is_refresh(ld):
            refreshes[ld.key].append(ld.at)
        else:
            grouped[ld.key].append(ld)
    # A crash or restart can empty the whole cache, and a background refresh reloads a key
    # before it expires: either starts a new miss episode.
    for key in grouped:
        expiries[key] = sorted(expiries[key] + everything_lost + refreshes[key])
    sizes: list[int] = []
    findings: list[Finding] = []
    for key, key_loads in grouped.items():
        key_loads.sort(key=lambda ld: ld.at)
        for episode in _episodes(key_loads, invalidators.get(key, []), expiries.get(key, [])):
            sizes.append(len(episode))
            if len(episode) > 1:
                findings.append(_finding(key, episode, fmt))
    findings.sort(key=lambda f: (f.details["first_at_s"], f.key or ""))
    measurements: dict[str, Any] = {
        "loads": len(loads),
        "episodes": len(sizes),
        "max_loads_per_episode": max(sizes, default=0),
        "mean_loads_per_episode": sum(sizes) / len(sizes) if sizes else 0.0,
        "extra_loads": sum(n - 1 for n in sizes),
    }
    reason = None if contract.single_flight else "the contract does not promise single-flight"
    return result(CHECKER, findings, measurements, skipped_reason=reason)


def _episodes(
    loads: list[LoadRecord], ops: list[Op], expiries: list[float]
) -> list[list[LoadRecord]]:
    ops = sorted(ops, key=lambda op: op.invoked_at)
    starts = [op.invoked_at for op in ops]
    reach: list[float] = []  # reach[i]: latest end among ops[0..i] (inf if never completed)
    for op in ops:
        end = op.completed_at if op.completed_at is not None else float("inf")
        reach.append(max(reach[-1], end) if reach else end)
    expiries = sorted(expiries)
    episodes: list[list[LoadRecord]] = []
    for ld in loads:
        if episodes and not _separated(episodes[-1][-1].at, ld.at, starts, reach, expiries):
            episodes[-1].append(ld)
        else:
            episodes.append([ld])
    return episodes


def _separated(
    a: float, b: float, starts: list[float], reach: list[float], expiries: list[float]
) -> bool:
    """Whether an invalidation may have happened between loads at `a` and `b` (a <= b)."""
    i = bisect.bisect_left(starts, b)  # ops invoked strictly before b
    if i and reach[i - 1] > a:
        return True
    j = bisect.bisect_right(expiries, a)  # expiries in (a, b]
    return j < len(expiries) and expiries[j] <= b


def _finding(key: str, episode: list[LoadRecord], fmt: Fmt) -> Finding:
    shown = ", ".join(
        f"{fmt.at(ld.at)}" + (f" by {ld.client}" if ld.client else "") for ld in episode[:5]
    )
    more = f" and {len(episode) - 5} more" if len(episode) > 5 else ""
    return Finding(
        CHECKER,
        "single_flight",
        key,
        f"Stampede on {key!r}: {len(episode)} database loads in one miss episode ({shown}{more}) "
        f"with no write, delete or expiry of {key!r} between them; single-flight promises at "
        "most one load per key per miss episode.",
        (),
        (),
        {
            "loads": len(episode),
            "first_at_s": episode[0].at - fmt.origin,
            "last_at_s": episode[-1].at - fmt.origin,
            "shown": [{"at_s": ld.at - fmt.origin, "client": ld.client} for ld in episode[:_SHOWN]],
        },
    )
