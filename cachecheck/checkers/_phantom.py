"""No phantom reads: every value a read returns was really written to that key."""

from __future__ import annotations

from collections.abc import Sequence

from cachecheck._contract import Contract
from cachecheck._history import Commit, Op, OpKind, Outcome
from cachecheck.checkers._result import CheckResult, Finding, result
from cachecheck.checkers._timeline import Fmt, origin_of, write_ops_by_value

CHECKER = "no_phantom_reads"


def check_no_phantom_reads(
    ops: Sequence[Op],
    commits: Sequence[Commit],
    contract: Contract,
    *,
    origin: float | None = None,
) -> CheckResult:
    """Every value returned by an OK read of key k was written to k by an OK or INFO write, or
    is in k's commit log; a value only a FAIL write wrote ("definitely had no effect") must
    never be read. A read of None (absent) is always allowed here.

    Properties: `no_phantom_reads` (never written anywhere), `no_cross_key_reads` (written to
    another key), `no_aborted_reads` (written only by a failed write).
    """
    fmt = Fmt(origin_of(ops, commits) if origin is None else origin)
    writers = write_ops_by_value(ops)
    committed = {(c.key, c.value): c for c in commits if c.value is not None}
    committed_key = {c.value: c.key for c in commits if c.value is not None}
    findings: list[Finding] = []
    reads = 0
    for op in ops:
        if op.kind is not OpKind.READ or not op.ok or op.value is None:
            continue
        reads += 1
        writer = writers.get(op.value)
        commit = committed.get((op.key, op.value))
        if writer is not None and writer.outcome is Outcome.FAIL and writer.key == op.key:
            findings.append(_aborted(op, writer, commit, fmt))
        elif commit is not None or (writer is not None and writer.key == op.key):
            continue
        elif writer is not None or op.value in committed_key:
            other = committed_key[op.value] if writer is None else writer.key
            findings.append(_cross_key(op, writer, other, fmt))
        else:
            findings.append(_phantom(op, fmt))
    measurements = {
        "reads_checked": reads,
        "phantom_reads": sum(f.property == "no_phantom_reads" for f in findings),
        "cross_key_reads": sum(f.property == "no_cross_key_reads" for f in findings),
        "aborted_reads": sum(f.property == "no_aborted_reads" for f in findings),
    }
    reason = None if contract.no_phantom_reads else "the contract does not promise no_phantom_reads"
    return result(CHECKER, findings, measurements, skipped_reason=reason)


def _read_text(read: Op, fmt: Fmt) -> str:
    return (
        f"{read.client} read {read.key!r} (invoked at {fmt.at(read.invoked_at)}, completed at "
        f"{fmt.at(read.completed_at)}) and got {read.value!r}"
    )


def _phantom(read: Op, fmt: Fmt) -> Finding:
    return Finding(
        CHECKER,
        "no_phantom_reads",
        read.key,
        f"{_read_text(read, fmt)}, a value no write ever wrote and the database never "
        "committed; every value a read returns must have been written.",
        (read,),
        (),
        {"read_index": read.index, "value": read.value},
    )


def _cross_key(read: Op, writer: Op | None, other_key: str, fmt: Fmt) -> Finding:
    return Finding(
        CHECKER,
        "no_cross_key_reads",
        read.key,
        f"{_read_text(read, fmt)}, but that value was written to key {other_key!r}, not "
        f"{read.key!r}; a read must only return values written to its own key.",
        (read,) if writer is None else (read, writer),
        (),
        {"read_index": read.index, "value": read.value, "written_to": other_key},
    )


def _aborted(read: Op, writer: Op, commit: Commit | None, fmt: Fmt) -> Finding:
    committed = f"; the database even committed it (version {commit.version})" if commit else ""
    return Finding(
        CHECKER,
        "no_aborted_reads",
        read.key,
        f"{_read_text(read, fmt)}, the value of {writer.client}'s write that FAILED "
        f"({writer.error or 'no error text'}, completed at {fmt.at(writer.completed_at)})"
        f"{committed}; "
        "a failed write must have no effect, so no read may see its value.",
        (read, writer),
        () if commit is None else (commit,),
        {"read_index": read.index, "write_index": writer.index, "value": read.value},
    )
