"""Durability (P4, Jepsen set-full style) and version regressions of asynchronous applies."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cachecheck._contract import Contract, Durability
from cachecheck._history import Commit, Event, Op, OpKind, Outcome
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import (
    Fmt,
    Timeline,
    build_timelines,
    origin_of,
    write_ops_by_value,
)

CHECKER = "durability"
#: Event names that count as crashes for the loss window.
CRASH_EVENTS: tuple[str, ...] = ("redis_crash", "worker_crash", "redis.crash", "worker.crash")


@dataclass(slots=True)
class _Tally:
    total: int = 0
    acknowledged: int = 0
    survived: int = 0
    indeterminate: int = 0
    indeterminate_committed: int = 0
    failed: int = 0
    lost: list[Op] = field(default_factory=list)


def check_durability(
    ops: Sequence[Op],
    commits: Sequence[Commit],
    events: Sequence[Event],
    contract: Contract,
    *,
    origin: float | None = None,
    crash_events: tuple[str, ...] = CRASH_EVENTS,
) -> CheckResult:
    """Classify every write and delete op: acknowledged (OK), indeterminate (INFO) or failed.
    An acknowledged write *survived* if its value reached the key's commit log (a delete: if a
    tombstone was committed after it began, or the key was already absent), else it is *lost*.

    - SYNC: every lost acknowledged write is a finding (`no_lost_writes`).
    - ASYNC with `loss_window` W: a lost write is allowed only if a crash event came at most W
      after its acknowledgement; otherwise a finding. ASYNC without W promises nothing on loss.
    - Always: a FAILED write whose value was committed (`failed_writes_have_no_effect`), and an
      older value committed over a newer one (`no_regression`): a commit of a value whose write
      was acknowledged before the write of an already committed value was even invoked.

    Measurements: total / acknowledged / survived / lost / indeterminate / failed counts, the
    loss rate, and per crash the loss window (crash time minus the oldest lost acknowledgement
    it explains), with the maximum over crashes.
    """
    fmt = Fmt(origin_of(ops, commits) if origin is None else origin)
    timelines = build_timelines(commits)
    writers = write_ops_by_value(ops)
    tally = _Tally()
    findings: list[Finding] = []
    for op in ops:
        if op.kind is not OpKind.READ:
            tl = timelines.get(op.key) or Timeline(op.key)
            _classify(op, tl, tally, findings, fmt)
    crashes = sorted((e for e in events if e.name in crash_events), key=lambda e: e.at)
    windows = _loss(tally.lost, crashes, contract, findings, fmt)
    for tl in timelines.values():
        findings.extend(_regressions(tl, writers, fmt))
    acked = tally.acknowledged
    measurements: dict[str, Any] = {
        "total": tally.total,
        "acknowledged": acked,
        "survived": tally.survived,
        "lost": len(tally.lost),
        "indeterminate": tally.indeterminate,
        "indeterminate_committed": tally.indeterminate_committed,
        "failed": tally.failed,
        "loss_rate": len(tally.lost) / acked if acked else 0.0,
        "crashes": len(crashes),
        "loss_windows": windows,
        "max_loss_window_s": max((w["window_s"] for w in windows), default=None),
        "lost_without_crash": len(tally.lost) - sum(w["lost"] for w in windows),
        "regressions": sum(f.property == "no_regression" for f in findings),
    }
    return result(CHECKER, findings, measurements)


def _survived(op: Op, tl: Timeline) -> bool:
    if op.kind is OpKind.WRITE:
        return op.value is not None and op.value in tl.by_value
    return (
        tl.first_tombstone_from(op.invoked_at) is not None
        or tl.value(tl.newest_at(op.invoked_at)) is None
    )


def _classify(op: Op, tl: Timeline, tally: _Tally, findings: list[Finding], fmt: Fmt) -> None:
    tally.total += 1
    survived = _survived(op, tl)
    if op.outcome is Outcome.FAIL:
        tally.failed += 1
        if survived and op.kind is OpKind.WRITE and op.value is not None:
            findings.append(_failed_applied(op, tl, fmt))
    elif op.outcome is Outcome.INFO:
        tally.indeterminate += 1
        tally.indeterminate_committed += survived
    else:
        tally.acknowledged += 1
        if survived:
            tally.survived += 1
        else:
            tally.lost.append(op)


def _loss(
    lost: list[Op], crashes: list[Event], contract: Contract, findings: list[Finding], fmt: Fmt
) -> list[dict[str, Any]]:
    """Attribute each lost write to the first crash at or after its acknowledgement."""
    times = [e.at for e in crashes]
    by_crash: dict[int, list[Op]] = defaultdict(list)
    window = contract.loss_window
    for op in lost:
        acked = op.completed_at if op.completed_at is not None else op.invoked_at
        i = bisect.bisect_left(times, acked)
        crash = crashes[i] if i < len(crashes) else None
        if crash is not None:
            by_crash[i].append(op)
        if contract.durability is Durability.SYNC:
            findings.append(_lost(op, acked, None, None, fmt))
        elif window is not None and (crash is None or crash.at - acked > window):
            findings.append(_lost(op, acked, crash, window, fmt))
    out = []
    for i, ops in sorted(by_crash.items()):
        oldest = min(op.completed_at or op.invoked_at for op in ops)
        out.append(
            {
                "crash": crashes[i].name,
                "at_s": crashes[i].at - fmt.origin,
                "lost": len(ops),
                "window_s": crashes[i].at - oldest,
            }
        )
    return out


def _regressions(tl: Timeline, writers: dict[str, Op], fmt: Fmt) -> list[Finding]:
    """An acknowledged write committed after a write that began only after that ack."""
    found: list[Finding] = []
    top: tuple[Op, Commit] | None = None  # the committed write invoked last so far
    for c in tl.commits:
        w = writers.get(c.value) if c.value is not None else None
        if w is None or w.key != tl.key:
            continue
        if (
            top is not None
            and w.ok
            and w.completed_at is not None
            and w.completed_at < top[0].invoked_at
        ):
            found.append(_regression(tl.key, w, c, top, fmt))
        if top is None or w.invoked_at > top[0].invoked_at:
            top = (w, c)
    return found


def _what(op: Op) -> str:
    return f"write of {op.value!r} to" if op.kind is OpKind.WRITE else "delete of"


def _lost(op: Op, acked: float, crash: Event | None, window: float | None, fmt: Fmt) -> Finding:
    head = (
        f"Acknowledged write lost on {op.key!r}: {op.client}'s {_what(op)} {op.key!r} was "
        f"acknowledged at {fmt.at(acked)} but never reached the database's commit log"
    )
    if window is None:
        why = "with SYNC durability every acknowledged write must survive."
    elif crash is None:
        why = (
            f"the contract allows losing only writes acknowledged within {fmt.dur(window)} "
            "before a crash, and no crash followed it."
        )
    else:
        why = (
            f"the contract allows losing only writes acknowledged within {fmt.dur(window)} "
            f"before a crash, and the next crash ({crash.name} at {fmt.at(crash.at)}) came "
            f"{fmt.dur(crash.at - acked)} after it."
        )
    details: dict[str, Any] = {"write_index": op.index, "value": op.value}
    if crash is not None:
        details.update(crash=crash.name, crash_after_ack_s=crash.at - acked)
    return Finding(CHECKER, "no_lost_writes", op.key, f"{head}; {why}", (op,), (), details)


def _failed_applied(op: Op, tl: Timeline, fmt: Fmt) -> Finding:
    commit = tl.commits[tl.by_value[op.value or ""] - 1]
    return Finding(
        CHECKER,
        "failed_writes_have_no_effect",
        op.key,
        f"{op.client}'s write of {op.value!r} to {op.key!r} FAILED ({op.error or 'no error'}, "
        f"at {fmt.at(op.completed_at)}) yet the database committed it as version "
        f"{commit.version} at {fmt.at(commit.committed_at)}; a failed write must have no "
        "effect (report it as indeterminate if it may have applied).",
        (op,),
        (commit,),
        {"write_index": op.index, "value": op.value, "version": commit.version},
    )


def _regression(key: str, w: Op, c: Commit, top: tuple[Op, Commit], fmt: Fmt) -> Finding:
    newer, newer_commit = top
    return Finding(
        CHECKER,
        "no_regression",
        key,
        f"Older value applied over newer on {key!r}: {w.value!r} ({w.client}'s write, "
        f"acknowledged at {fmt.at(w.completed_at)}) was committed as version {c.version} at "
        f"{fmt.at(c.committed_at)}, after {newer.value!r} (version {newer_commit.version}), "
        f"whose write by {newer.client} began only at {fmt.at(newer.invoked_at)}, after "
        f"{w.value!r} was acknowledged.",
        (w, newer),
        (newer_commit, c),
        {
            "old_value": w.value,
            "new_value": newer.value,
            "old_version": c.version,
            "new_version": newer_commit.version,
        },
    )
