"""Per-key version timelines built from the commit log, and small shared helpers.

Position 0 of a timeline is the initial "absent" state; position i >= 1 is the i-th commit of
the key in version order. Values are unique per write, so a read's value names its position.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cachecheck._history import Commit, Op, OpKind

NEG_INF = float("-inf")


@dataclass(slots=True)
class Timeline:
    key: str
    commits: list[Commit] = field(default_factory=list)
    #: Effective commit time per position (times[0] = -inf). Version i+1 being committed
    #: implies version i was, so times[i] = min(raw time of i, times[i+1]): non-decreasing.
    times: list[float] = field(default_factory=lambda: [NEG_INF])
    by_value: dict[str, int] = field(default_factory=dict)
    tombstones: list[int] = field(default_factory=list)
    tomb_times: list[float] = field(default_factory=list)

    @property
    def last(self) -> int:
        return len(self.commits)

    def commit(self, pos: int) -> Commit | None:
        # Positions past the last commit occur for acknowledged writes not yet committed
        # (write-behind): there is no commit to show for them.
        return self.commits[pos - 1] if 1 <= pos <= len(self.commits) else None

    def value(self, pos: int) -> str | None:
        commit = self.commit(pos)
        return None if commit is None else commit.value

    def newest_at(self, t: float) -> int:
        """The newest position committed at or before `t`."""
        return bisect.bisect_right(self.times, t) - 1

    def absent_at(self, t: float) -> int:
        """The position a read of None completed at `t` saw: the latest tombstone committed by
        then, else the initial absent state (the most favourable reading of a None)."""
        i = bisect.bisect_right(self.tomb_times, t)
        return self.tombstones[i - 1] if i else 0

    def first_tombstone_from(self, t: float) -> int | None:
        i = bisect.bisect_left(self.tomb_times, t)
        return self.tombstones[i] if i < len(self.tombstones) else None


def build_timelines(commits: Iterable[Commit]) -> dict[str, Timeline]:
    grouped: dict[str, list[Commit]] = defaultdict(list)
    for c in commits:
        grouped[c.key].append(c)
    timelines: dict[str, Timeline] = {}
    for key, cs in grouped.items():
        cs.sort(key=lambda c: (c.version, c.committed_at))
        times = [c.committed_at for c in cs]
        for i in range(len(times) - 2, -1, -1):
            times[i] = min(times[i], times[i + 1])
        tl = Timeline(key, cs, [NEG_INF, *times])
        for pos, c in enumerate(cs, start=1):
            if c.value is None:
                tl.tombstones.append(pos)
                tl.tomb_times.append(tl.times[pos])
            else:
                tl.by_value.setdefault(c.value, pos)
        timelines[key] = tl
    return timelines


def credit_deletes(timelines: dict[str, Timeline], ops: Iterable[Op]) -> None:
    """Let a read of None see a tombstone from the moment its delete was invoked.

    With asynchronous durability (write-behind) a delete is acknowledged, and served, before
    its tombstone commits; values are matched to their write by value, but tombstones carry
    none. Each tombstone is credited from the invocation of the latest delete of its key
    invoked before it committed (lenient: it never turns a correct history into a finding).
    """
    invoked: dict[str, list[float]] = defaultdict(list)
    for op in ops:
        if op.kind is OpKind.DELETE:
            invoked[op.key].append(op.invoked_at)
    for key, tl in timelines.items():
        starts = sorted(invoked.get(key, ()))
        if not starts:
            continue
        credited = []
        for t in tl.tomb_times:
            i = bisect.bisect_right(starts, t)
            credited.append(min(t, starts[i - 1]) if i else t)
        for i in range(len(credited) - 2, -1, -1):  # keep them sorted for bisect
            credited[i] = min(credited[i], credited[i + 1])
        tl.tomb_times = credited


def write_ops_by_value(ops: Iterable[Op]) -> dict[str, Op]:
    """Each written value -> the write op that wrote it (values are unique per write)."""
    found: dict[str, Op] = {}
    for op in ops:
        if op.kind is OpKind.WRITE and op.value is not None:
            found.setdefault(op.value, op)
    return found


def by_key(ops: Iterable[Op], *kinds: OpKind) -> dict[str, list[Op]]:
    grouped: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind in kinds:
            grouped[op.key].append(op)
    return grouped


def origin_of(ops: Sequence[Op], commits: Sequence[Commit] = ()) -> float:
    """Time zero for messages: the first op's invocation (else the first commit)."""
    if ops:
        return min(op.invoked_at for op in ops)
    if commits:
        return min(c.committed_at for c in commits)
    return 0.0


@dataclass(frozen=True, slots=True)
class Fmt:
    """Formats times relative to the history's origin, in milliseconds."""

    origin: float

    def at(self, t: float | None) -> str:
        if t is None:
            return "never"
        return f"{(t - self.origin) * 1000:.2f} ms"

    @staticmethod
    def dur(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    def version(self, tl: Timeline, pos: int) -> str:
        """E.g. `'v3' (version 3, committed at 4.00 ms)` or `absent (the initial state)`."""
        c = tl.commit(pos)
        if c is None:
            first = tl.commit(1)
            before = f", before version {first.version}" if first else ""
            return f"absent (the initial state{before})"
        shown = "absent (deleted" if c.value is None else f"{c.value!r} (written"
        return f"{shown} at version {c.version}, committed at {self.at(c.committed_at)})"


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def sample(values: Sequence[float], cap: int) -> list[float]:
    """At most `cap` values, evenly spaced over the sequence (deterministic)."""
    n = len(values)
    if n <= cap:
        return list(values)
    return [values[i * n // cap] for i in range(cap)]


def nines(fraction: float) -> float | str:
    """0.999 -> 3.0; a perfect 1.0 -> the string "all" (infinity is not valid JSON)."""
    if fraction >= 1.0:
        return "all"
    return round(-math.log10(1.0 - fraction), 3)
