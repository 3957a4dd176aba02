"""Read-your-writes: a client sees its own completed write (or something newer)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence

from cachecheck._contract import Contract
from cachecheck._history import Commit, Op, OpKind
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import Fmt, Timeline, build_timelines, origin_of

CHECKER = "read_your_writes"


def check_read_your_writes(
    ops: Sequence[Op],
    commits: Sequence[Commit],
    contract: Contract,
    *,
    origin: float | None = None,
) -> CheckResult:
    """After a client's OK write of k completes, every OK read of k by that client invoked at or
    after that completion returns the written value or one committed later in k's version
    order; after an OK delete, it returns None or a value committed later.

    The latest such write before the read is the one that binds. A write that never reached the
    commit log is placed by its invocation time (any version committed after it began counts
    as later). A read of a value absent from the commit log is not judged here.
    """
    fmt = Fmt(origin_of(ops, commits) if origin is None else origin)
    timelines = build_timelines(commits)
    writes: dict[tuple[str, str], list[Op]] = defaultdict(list)
    reads: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for op in ops:
        if op.ok and op.completed_at is not None:
            (reads if op.kind is OpKind.READ else writes)[(op.client, op.key)].append(op)
    findings: list[Finding] = []
    checked = unplaced = 0
    for pair, own in writes.items():
        own.sort(key=lambda w: w.completed_at or 0.0)
        ends = [w.completed_at or 0.0 for w in own]
        tl = timelines.get(pair[1]) or Timeline(pair[1])
        for r in reads.get(pair, ()):
            i = bisect.bisect_right(ends, r.invoked_at) - 1
            if i < 0:
                continue
            checked += 1
            verdict = _sees(tl, own[i], r)
            if verdict is None:
                unplaced += 1
            elif not verdict:
                findings.append(_finding(tl, own[i], r, fmt))
    findings.sort(key=lambda f: (f.ops[1].invoked_at, f.ops[1].index))
    measurements = {"reads_after_own_write": checked, "unplaced_reads": unplaced}
    reason = None if contract.read_your_writes else "the contract does not promise read-your-writes"
    return result(CHECKER, findings, measurements, skipped_reason=reason)


def _floor(tl: Timeline, w: Op) -> int:
    """The oldest position a read after `w` may return."""
    if w.kind is OpKind.WRITE and w.value is not None and w.value in tl.by_value:
        return tl.by_value[w.value]
    if w.kind is OpKind.DELETE:
        tomb = tl.first_tombstone_from(w.invoked_at)
        if tomb is not None:
            return tomb
    return bisect.bisect_left(tl.times, w.invoked_at)


def _sees(tl: Timeline, w: Op, r: Op) -> bool | None:
    """True if `r` saw `w` or newer, False if older, None if `r`'s value cannot be placed."""
    if w.kind is OpKind.WRITE and r.value == w.value:
        return True
    floor = _floor(tl, w)
    if r.value is None:
        return w.kind is OpKind.DELETE or bool(tl.tombstones and tl.tombstones[-1] >= floor)
    pos = tl.by_value.get(r.value)
    return None if pos is None else pos >= floor


def _finding(tl: Timeline, w: Op, r: Op, fmt: Fmt) -> Finding:
    floor = _floor(tl, w)
    own_commit = tl.commit(floor) if floor >= 1 else None
    placed = own_commit is not None and (
        own_commit.value == w.value if w.kind is OpKind.WRITE else own_commit.value is None
    )
    did = f"wrote {w.value!r} to" if w.kind is OpKind.WRITE else "deleted"
    where = fmt.version(tl, floor) if placed else "never committed"
    seen_pos = tl.by_value.get(r.value) if r.value is not None else None
    seen = fmt.version(tl, seen_pos) if seen_pos is not None else "absent"
    message = (
        f"Read-your-writes violated on {tl.key!r}: {r.client} {did} it (completed at "
        f"{fmt.at(w.completed_at)}; {where}), then its read invoked at {fmt.at(r.invoked_at)} "
        f"returned {seen}; a client must see its own completed write or a newer version."
    )
    seen_commit = tl.commit(seen_pos) if seen_pos is not None else None
    return Finding(
        CHECKER,
        "read_your_writes",
        tl.key,
        message,
        (w, r),
        tuple(c for c in (own_commit if placed else None, seen_commit) if c is not None),
        {
            "client": r.client,
            "write_index": w.index,
            "read_index": r.index,
            "written_value": w.value,
            "read_value": r.value,
        },
    )
