"""Convergence at quiescence (P1): what is cached equals the source of truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cachecheck._contract import Contract
from cachecheck._history import Commit, Op
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import Fmt, build_timelines, origin_of, write_ops_by_value

CHECKER = "convergence"


def check_convergence(
    final_cache: Mapping[str, str | None],
    final_db: Mapping[str, str | None],
    contract: Contract,
    *,
    ops: Sequence[Op] = (),
    commits: Sequence[Commit] = (),
    origin: float | None = None,
) -> CheckResult:
    """Once every op completed and background work drained, every key the cache holds has
    exactly the database's current value. A key missing from `final_cache`, or mapped to None,
    is absent from the cache and always fine; a key missing from `final_db` (or None there) is
    absent from the database, so any cached value for it is stale.

    With `ops` and `commits`, each finding also names the write that produced the cached value
    and the newer commit that superseded it.
    """
    fmt = Fmt(origin_of(ops, commits) if origin is None else origin)
    writers = write_ops_by_value(ops)
    timelines = build_timelines(commits)
    findings: list[Finding] = []
    cached = 0
    for key in sorted(final_cache):
        value = final_cache[key]
        if value is None:
            continue
        cached += 1
        truth = final_db.get(key)
        if value == truth:
            continue
        tl = timelines.get(key)
        old_pos = tl.by_value.get(value) if tl else None
        old = tl.commit(old_pos) if tl and old_pos is not None else None
        current = tl.commit(tl.last) if tl else None
        writer = writers.get(value)
        findings.append(_finding(key, value, truth, writer, old, current, fmt))
    measurements = {
        "keys_in_cache": cached,
        "keys_in_db": sum(v is not None for v in final_db.values()),
        "keys_diverged": len(findings),
    }
    reason = None if contract.converges else "the contract does not promise convergence"
    return result(CHECKER, findings, measurements, skipped_reason=reason)


def _finding(
    key: str,
    value: str,
    truth: str | None,
    writer: Op | None,
    old: Commit | None,
    current: Commit | None,
    fmt: Fmt,
) -> Finding:
    db_text = "nothing (the key is absent)" if truth is None else repr(truth)
    parts = [
        f"At quiescence the cache holds {key!r} = {value!r} but the database holds {db_text}; "
        "convergence promises every cached key is absent or equals the database."
    ]
    if writer is not None:
        parts.append(
            f"{value!r} was written by {writer.client} (invoked at {fmt.at(writer.invoked_at)}, "
            f"{writer.outcome.value})"
            + (f" and committed as version {old.version}" if old else ", never committed")
            + "."
        )
    if current is not None and (old is None or current.version > old.version):
        parts.append(
            f"The database's current version {current.version} was committed at "
            f"{fmt.at(current.committed_at)}."
        )
    return Finding(
        CHECKER,
        "convergence",
        key,
        " ".join(parts),
        () if writer is None else (writer,),
        tuple(c for c in (old, None if current == old else current) if c is not None),
        {
            "cached_value": value,
            "db_value": truth,
            "cached_version": old.version if old else None,
            "db_version": current.version if current else None,
        },
    )
