"""Turn checker results into report records, and merge per-test results into one report.

Under pytest every suite test ships one *payload* (a plain dict, see `make_payload`) on its
test report; pytest-xdist carries it from the worker to the controller, where a
`ReportCollector` groups payloads by subject and builds the `Report` once.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from cachecheck._report._model import (
    CheckRecord,
    Problem,
    PropertyRecord,
    Report,
    ScenarioResult,
    SubjectReport,
)
from cachecheck.checkers import CheckResult

#: How many findings per property are kept in the report (the checker keeps up to 100).
MAX_FINDINGS_PER_PROPERTY = 10
#: Lists in measurements are cut to this many items (raw samples live in the figures).
MAX_LIST_ITEMS = 20


def properties_from_results(results: Iterable[CheckResult]) -> tuple[PropertyRecord, ...]:
    """One `PropertyRecord` per checker result, findings trimmed to the first few."""
    return tuple(
        PropertyRecord(
            name=r.checker,
            checked=r.checked,
            ok=r.ok,
            skipped_reason=r.skipped_reason,
            violations=int(r.measurements.get("violations", len(r.findings))),
            measurements=compact_measurements(r.measurements),
            findings=tuple(f.to_dict() for f in r.findings[:MAX_FINDINGS_PER_PROPERTY]),
        )
        for r in results
    )


def compact_measurements(measurements: Mapping[str, Any]) -> dict[str, Any]:
    """Measurements without raw samples (`*_samples_*`), lists cut to `MAX_LIST_ITEMS`."""
    out: dict[str, Any] = {}
    for key, value in measurements.items():
        if "_samples" in key:
            continue
        out[key] = value[:MAX_LIST_ITEMS] if isinstance(value, list) else value
    return out


def build_subject(
    name: str,
    *,
    kind: str,
    description: str = "",
    contract: Mapping[str, Any] | None = None,
    capabilities: Iterable[str] = (),
    checks: Sequence[CheckRecord] = (),
    scenarios: Sequence[ScenarioResult] = (),
) -> SubjectReport:
    """A subject record; its time is the sum of its checks' times."""
    return SubjectReport(
        name=name,
        kind=kind,
        description=description,
        contract=dict(contract or {}),
        capabilities=tuple(sorted(capabilities)),
        checks=tuple(checks),
        scenarios=tuple(scenarios),
        seconds=sum(c.seconds for c in checks),
    )


def make_payload(
    subject_id: str,
    subject: SubjectReport,
    check: CheckRecord,
    scenarios: Sequence[ScenarioResult] = (),
    environment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload one pytest test attaches to its report: plain JSON types only (str, not
    str subclasses; lists, not tuples), as pytest-xdist's transport (execnet) requires."""
    payload = {
        "subject_id": subject_id,
        "subject": replace(subject, checks=(), scenarios=()).to_dict(),
        "check": check.to_dict(),
        "scenarios": [s.to_dict() for s in scenarios],
        "environment": dict(environment or {}),
    }
    plain: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return plain


def environment_facts(world: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Python, platform and library versions (plus the world's description, when given)."""
    import hypothesis
    import redis
    import sqlalchemy

    from cachecheck import __version__

    facts: dict[str, Any] = {
        "cachecheck": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hypothesis": hypothesis.__version__,
        "redis-py": redis.__version__,
        "sqlalchemy": sqlalchemy.__version__,
    }
    if world is not None:
        facts["world"] = dict(world)
    return facts


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ReportCollector:
    """Accumulates payloads (in arrival order) and builds one `Report`."""

    def __init__(self, source: str = "pytest") -> None:
        self.source = source
        self._subjects: dict[str, SubjectReport] = {}
        self._environment: dict[str, Any] = {}
        self.problems: list[Problem] = []

    def add(self, payload: Mapping[str, Any]) -> None:
        """Merge one payload; malformed payloads become a `Problem`, never an exception."""
        try:
            key = str(payload["subject_id"])
            check = CheckRecord.from_dict(payload["check"])
            scenarios = tuple(ScenarioResult.from_dict(s) for s in payload.get("scenarios", ()))
            subject = self._subjects.get(key) or SubjectReport.from_dict(payload["subject"])
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(Problem("report", f"unreadable result payload: {exc!r}"))
            return
        self._subjects[key] = replace(
            subject,
            checks=(*subject.checks, check),
            scenarios=(*subject.scenarios, *scenarios),
            seconds=subject.seconds + check.seconds,
        )
        if not self._environment and payload.get("environment"):
            self._environment = dict(payload["environment"])

    def __len__(self) -> int:
        return len(self._subjects)

    def build(self, *, duration_s: float, environment: Mapping[str, Any] | None = None) -> Report:
        env = {**environment_facts(), **self._environment, **(environment or {})}
        return Report(
            source=self.source,
            subjects=tuple(self._subjects.values()),
            created_at=now_iso(),
            duration_s=duration_s,
            environment=env,
            problems=tuple(self.problems),
        )


def junit_properties(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A payload's summary as JUnit XML properties (`cachecheck.*`, string values)."""
    check = payload.get("check", {})
    faults = check.get("faults", {})
    props = [
        ("cachecheck.subject", str(payload.get("subject", {}).get("name", ""))),
        ("cachecheck.check", str(check.get("name", ""))),
        ("cachecheck.status", str(check.get("status", ""))),
        ("cachecheck.examples", str(check.get("examples", 0))),
        ("cachecheck.steps", str(check.get("steps", 0))),
        ("cachecheck.ops", str(check.get("ops", 0))),
        ("cachecheck.faults", ",".join(f"{k}={v}" for k, v in sorted(faults.items()))),
    ]
    if check.get("reason"):
        props.append(("cachecheck.reason", str(check["reason"])))
    violation = check.get("violation")
    if violation:
        props.append(("cachecheck.violated", ",".join(violation.get("properties", ()))))
        if violation.get("counterexample"):
            props.append(("cachecheck.counterexample", str(violation["counterexample"])))
    return props
