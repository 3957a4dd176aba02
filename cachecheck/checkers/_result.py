"""What a checker returns: findings (each with its minimal proof) and measurements."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cachecheck._history import Commit, Op

#: At most this many findings are kept per checker (the first ones, in a deterministic order);
#: the measurement "violations" always counts them all.
MAX_FINDINGS = 100


@dataclass(frozen=True)
class Finding:
    """One violated promise, with the smallest set of ops and commits that proves it."""

    checker: str
    property: str
    key: str | None
    message: str
    ops: tuple[Op, ...] = ()
    commits: tuple[Commit, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "property": self.property,
            "key": self.key,
            "message": self.message,
            "ops": [op_to_dict(op) for op in self.ops],
            "commits": [commit_to_dict(c) for c in self.commits],
            "details": jsonable(self.details),
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one checker: `checked` is False when the contract promises nothing."""

    checker: str
    checked: bool
    findings: tuple[Finding, ...] = ()
    measurements: dict[str, Any] = field(default_factory=dict)
    skipped_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "checked": self.checked,
            "ok": self.ok,
            "skipped_reason": self.skipped_reason,
            "findings": [f.to_dict() for f in self.findings],
            "measurements": jsonable(self.measurements),
        }


def result(
    checker: str,
    findings: Iterable[Finding],
    measurements: dict[str, Any],
    *,
    skipped_reason: str | None = None,
) -> CheckResult:
    """Build a result; a skipped check keeps its measurements but reports no findings."""
    found = list(findings)
    measurements = {"violations": 0 if skipped_reason else len(found), **measurements}
    if skipped_reason is not None:
        return CheckResult(checker, False, (), measurements, skipped_reason)
    return CheckResult(checker, True, tuple(found[:MAX_FINDINGS]), measurements)


def skipped(checker: str, reason: str) -> CheckResult:
    return CheckResult(checker, False, (), {}, reason)


def op_to_dict(op: Op) -> dict[str, Any]:
    return {
        "index": op.index,
        "client": op.client,
        "kind": op.kind.value,
        "key": op.key,
        "value": op.value,
        "invoked_at": op.invoked_at,
        "completed_at": op.completed_at,
        "outcome": op.outcome.value,
        "error": op.error,
    }


def commit_to_dict(commit: Commit) -> dict[str, Any]:
    return {
        "key": commit.key,
        "version": commit.version,
        "value": commit.value,
        "committed_at": commit.committed_at,
    }


def jsonable(value: Any) -> Any:
    """Make `value` strictly JSON-ready: non-finite floats (not valid JSON) become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
