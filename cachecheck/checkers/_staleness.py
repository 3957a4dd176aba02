"""Bounded staleness (P2, Polaris-style) and "N nines of writes consistent within Δ"."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cachecheck._contract import Contract
from cachecheck._history import Commit, Op, OpKind
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import (
    NEG_INF,
    Fmt,
    Timeline,
    build_timelines,
    by_key,
    credit_deletes,
    nines,
    origin_of,
    percentile,
    sample,
    write_ops_by_value,
)

CHECKER = "staleness"


@dataclass(slots=True)
class _Due:
    """When each version of a key became *due*: its commit, or its write op's completion if
    that came later (a read may legitimately miss a write that is still in flight)."""

    due: list[float]
    producer: list[Op | None]
    #: best[j] = the position >= j that became due first; best[last + 1] = -1.
    best: list[int]


@dataclass(slots=True)
class _Stats:
    values: list[float] = field(default_factory=list)
    future: int = 0
    unplaced: int = 0
    over_bound: int = 0
    writes: int = 0
    inconsistent: int = 0


def check_staleness(
    ops: Sequence[Op],
    commits: Sequence[Commit],
    contract: Contract,
    *,
    origin: float | None = None,
    max_samples: int = 10_000,
) -> CheckResult:
    """Bounded staleness with Δ = `contract.staleness_bound`.

    For each OK read of k invoked at t, the version it saw is found by value (None = the
    latest tombstone committed before the read completed, or the initial absent state). Its
    staleness is 0 if no newer version was committed at or before t, else t minus the commit
    time of the first newer version. A newer version becomes *due* at the later of its commit
    and its write op's completion; the read violates the bound when some newer version was due
    more than Δ before t (property `bounded_staleness`). A read that saw a value whose write
    was invoked only after the read completed is a `no_future_reads` violation.

    Measurements: read counts, staleness percentiles and samples (seconds), and the fraction
    (and nines) of commits that every read invoked more than Δ after they were due saw.
    `nines_consistent` is the string "all" when no commit was ever missed.
    """
    bound = contract.staleness_bound
    fmt = Fmt(origin_of(ops, commits) if origin is None else origin)
    timelines = build_timelines(commits)
    credit_deletes(timelines, ops)
    writers = write_ops_by_value(ops)
    deletes = by_key(ops, OpKind.DELETE)
    stats = _Stats(writes=len(commits))
    findings: list[Finding] = []
    for key, reads in by_key((op for op in ops if op.ok), OpKind.READ).items():
        tl = timelines.get(key) or Timeline(key)
        due = _due_times(tl, writers, deletes.get(key, []))
        seen = _check_key(
            tl, due, sorted(reads, key=lambda r: r.invoked_at), writers, bound, fmt, stats, findings
        )
        if bound is not None:
            stats.inconsistent += _inconsistent_commits(tl, due, seen, bound)
    findings.sort(key=lambda f: (f.ops[0].invoked_at, f.ops[0].index))
    reason = None if bound is not None else "the contract promises no staleness bound"
    return result(
        CHECKER, findings, _measurements(stats, bound, max_samples), skipped_reason=reason
    )


def _check_key(
    tl: Timeline,
    due: _Due,
    reads: list[Op],
    writers: dict[str, Op],
    bound: float | None,
    fmt: Fmt,
    stats: _Stats,
    findings: list[Finding],
) -> list[tuple[float, int]]:
    """Measure and judge the reads of one key; return (invoked_at, seen position) per read."""
    seen: list[tuple[float, int]] = []
    for r in reads:
        done = r.completed_at if r.completed_at is not None else float("inf")
        s = tl.absent_at(done) if r.value is None else tl.by_value.get(r.value)
        if s is None:
            stats.unplaced += 1  # never committed (or a phantom): other checkers judge it
            continue
        if r.value is not None and _is_future(tl, s, writers.get(r.value), done):
            stats.future += 1
            findings.append(_future_finding(r, tl, s, writers.get(r.value), fmt))
            continue
        t = r.invoked_at
        stale = t - tl.times[s + 1] if s < tl.newest_at(t) else 0.0
        stats.values.append(stale)
        seen.append((t, s))
        if bound is not None and s < tl.last:
            j = due.best[s + 1]
            if t > due.due[j] + bound:
                stats.over_bound += 1
                findings.append(_stale_finding(r, tl, due, s, j, stale, bound, writers, fmt))
    return seen


def _due_times(tl: Timeline, writers: dict[str, Op], deletes: list[Op]) -> _Due:
    # A tombstone has no value to name its delete: take the delete ops whose interval contains
    # its commit and, to stay lenient, the one that completed last.
    dels = sorted(deletes, key=lambda d: d.invoked_at)
    starts = [d.invoked_at for d in dels]
    reach: list[tuple[float, Op]] = []
    for d in dels:
        end = d.completed_at if d.completed_at is not None else NEG_INF
        reach.append(max(reach[-1], (end, d), key=lambda p: p[0]) if reach else (end, d))
    due = [NEG_INF]
    producer: list[Op | None] = [None]
    for pos, c in enumerate(tl.commits, start=1):
        op: Op | None = None
        if c.value is not None:
            op = writers.get(c.value)
            op = op if op is not None and op.key == tl.key else None
        else:
            i = bisect.bisect_right(starts, c.committed_at)
            if i and reach[i - 1][0] >= c.committed_at:
                op = reach[i - 1][1]
        producer.append(op)
        done = op.completed_at if op is not None else None
        due.append(tl.times[pos] if done is None else max(tl.times[pos], done))
    best = [-1] * (tl.last + 2)
    for j in range(tl.last, 0, -1):
        nxt = best[j + 1]
        best[j] = j if nxt == -1 or due[j] <= due[nxt] else nxt
    return _Due(due, producer, best)


def _is_future(tl: Timeline, s: int, writer: Op | None, done: float) -> bool:
    """Whether the value at position s could not yet exist when a read completed at `done`."""
    if writer is not None:
        # Write-behind acknowledges before committing, so judge by when the write began.
        return writer.invoked_at > done
    return tl.commits[s - 1].committed_at > done


def _inconsistent_commits(
    tl: Timeline, due: _Due, seen: list[tuple[float, int]], bound: float
) -> int:
    """Commits some read invoked more than Δ after they were due failed to see."""
    if not seen:
        return 0
    seen.sort()
    times = [t for t, _ in seen]
    low = [s for _, s in seen]
    for i in range(len(low) - 2, -1, -1):
        low[i] = min(low[i], low[i + 1])
    missed = 0
    for j in range(1, tl.last + 1):
        k = bisect.bisect_right(times, due.due[j] + bound)
        missed += k < len(low) and low[k] < j
    return missed


def _measurements(stats: _Stats, bound: float | None, cap: int) -> dict[str, Any]:
    ordered = sorted(stats.values)
    m: dict[str, Any] = {
        "bound_s": bound,
        "reads": len(ordered),
        "stale_reads": sum(v > 0 for v in ordered),
        "reads_over_bound": stats.over_bound,
        "future_reads": stats.future,
        "unplaced_reads": stats.unplaced,
        "max_staleness_s": ordered[-1] if ordered else None,
        "p50_staleness_s": percentile(ordered, 0.5) if ordered else None,
        "p99_staleness_s": percentile(ordered, 0.99) if ordered else None,
        "p999_staleness_s": percentile(ordered, 0.999) if ordered else None,
        "staleness_samples_s": sample(stats.values, cap),
        "writes": stats.writes,
        "writes_consistent_within_bound": None,
        "fraction_consistent": None,
        "nines_consistent": None,
    }
    if bound is not None and stats.writes:
        consistent = stats.writes - stats.inconsistent
        m["writes_consistent_within_bound"] = consistent
        m["fraction_consistent"] = consistent / stats.writes
        m["nines_consistent"] = nines(consistent / stats.writes)
    return m


def _stale_finding(
    read: Op,
    tl: Timeline,
    due: _Due,
    s: int,
    j: int,
    staleness: float,
    bound: float,
    writers: dict[str, Op],
    fmt: Fmt,
) -> Finding:
    seen_value = tl.value(s)
    seen_op = writers.get(seen_value) if seen_value is not None else None
    newer_op = due.producer[j]
    newer = tl.commits[j - 1]
    if newer_op is not None and due.due[j] > tl.times[j]:
        why = f"when {newer_op.client}'s {newer_op.kind.value} completed"
    else:
        why = "when it was committed"
    overdue = read.invoked_at - due.due[j]
    message = (
        f"Stale read of {tl.key!r}: {read.client}'s read invoked at {fmt.at(read.invoked_at)} "
        f"returned {fmt.version(tl, s)}, but {fmt.version(tl, j)} was due from "
        f"{fmt.at(due.due[j])} ({why}), {fmt.dur(overdue)} before the read began; the "
        f"contract bounds staleness at {fmt.dur(bound)}."
    )
    seen_commit = tl.commit(s)
    return Finding(
        CHECKER,
        "bounded_staleness",
        tl.key,
        message,
        tuple(op for op in (read, seen_op, newer_op) if op is not None),
        tuple(c for c in (seen_commit, newer) if c is not None),
        {
            "read_index": read.index,
            "seen_version": seen_commit.version if seen_commit else 0,
            "seen_value": seen_value,
            "newer_version": newer.version,
            "newer_value": newer.value,
            "staleness_s": staleness,
            "overdue_s": overdue,
            "bound_s": bound,
        },
    )


def _future_finding(read: Op, tl: Timeline, s: int, writer: Op | None, fmt: Fmt) -> Finding:
    commit = tl.commits[s - 1]
    if writer is not None:
        when = f"{writer.client}'s write of it was only invoked at {fmt.at(writer.invoked_at)}"
    else:
        when = (
            f"no recorded write produced it and it was committed at {fmt.at(commit.committed_at)}"
        )
    return Finding(
        CHECKER,
        "no_future_reads",
        tl.key,
        f"Future read of {tl.key!r}: {read.client}'s read (invoked at "
        f"{fmt.at(read.invoked_at)}, completed at {fmt.at(read.completed_at)}) returned "
        f"{fmt.version(tl, s)}, but {when}, after the read completed; a read cannot see a "
        "value before it exists.",
        (read,) if writer is None else (read, writer),
        (commit,),
        {"read_index": read.index, "seen_version": commit.version, "seen_value": commit.value},
    )
