"""The report model: plain, JSON-ready records of what a run checked, measured and found.

The records mirror `report.json` (see docs/report-schema.md): a `Report` holds one
`SubjectReport` per cache under test; each subject holds `CheckRecord`s (pass/fail checks:
the stateful model, the concurrent runner, crash checks) and `ScenarioResult`s (named
experiments with measurements and figures). Every record converts to and from a dict, so
pytest-xdist workers can ship results to the controller as plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from cachecheck.checkers._result import jsonable

#: Version of the report.json layout; bumped on any incompatible change.
SCHEMA_VERSION = 1

Status = Literal["passed", "failed", "error", "skipped", "incomplete", "measured"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped", "incomplete", "measured")
FigureKind = Literal["histogram", "series", "states", "bars"]

#: Statuses that make a run fail (exit code 1, a red summary).
FAILING: frozenset[str] = frozenset({"failed", "error"})


def _status(value: object) -> Status:
    if value not in STATUSES:
        raise ValueError(f"unknown status {value!r}; expected one of {', '.join(STATUSES)}")
    return value


@dataclass(frozen=True)
class Figure:
    """Data for one plot. Which fields matter depends on `kind`:

    - `histogram`: `values` (raw samples, binned when drawn), optional `bound` marker;
    - `series`: `points` (x, y), optional `markers` (x, label) for events such as expiries;
    - `states`: `segments` (start, end, state) of a state timeline (a breaker's states);
    - `bars`: `bars` (label, value), e.g. the loss window per persistence mode.
    """

    kind: FigureKind
    title: str
    x_label: str = ""
    y_label: str = ""
    values: tuple[float, ...] = ()
    points: tuple[tuple[float, float], ...] = ()
    segments: tuple[tuple[float, float, str], ...] = ()
    bars: tuple[tuple[str, float], ...] = ()
    markers: tuple[tuple[float, str], ...] = ()
    bound: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "values": list(self.values),
            "points": [list(p) for p in self.points],
            "segments": [list(s) for s in self.segments],
            "bars": [list(b) for b in self.bars],
            "markers": [list(m) for m in self.markers],
            "bound": self.bound,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figure:
        kind = data["kind"]
        if kind not in ("histogram", "series", "states", "bars"):
            raise ValueError(f"unknown figure kind {kind!r}")
        return cls(
            kind=kind,
            title=str(data["title"]),
            x_label=str(data.get("x_label", "")),
            y_label=str(data.get("y_label", "")),
            values=tuple(float(v) for v in data.get("values", ())),
            points=tuple((float(x), float(y)) for x, y in data.get("points", ())),
            segments=tuple((float(a), float(b), str(s)) for a, b, s in data.get("segments", ())),
            bars=tuple((str(label), float(v)) for label, v in data.get("bars", ())),
            markers=tuple((float(x), str(label)) for x, label in data.get("markers", ())),
            bound=None if data.get("bound") is None else float(data["bound"]),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class PropertyRecord:
    """One checked property (one checker's result) within a check."""

    name: str
    checked: bool
    ok: bool
    skipped_reason: str | None = None
    violations: int = 0
    measurements: dict[str, Any] = field(default_factory=dict)
    findings: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checked": self.checked,
            "ok": self.ok,
            "skipped_reason": self.skipped_reason,
            "violations": self.violations,
            "measurements": jsonable(self.measurements),
            "findings": [jsonable(f) for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PropertyRecord:
        return cls(
            name=str(data["name"]),
            checked=bool(data["checked"]),
            ok=bool(data["ok"]),
            skipped_reason=data.get("skipped_reason"),
            violations=int(data.get("violations", 0)),
            measurements=dict(data.get("measurements", {})),
            findings=tuple(dict(f) for f in data.get("findings", ())),
        )


@dataclass(frozen=True)
class Violation:
    """A broken promise and the (shrunk) steps that replay it."""

    message: str
    properties: tuple[str, ...] = ()
    counterexample: str = ""
    counterexample_steps: int | None = None
    #: False when shrinking was cut short by the time budget (the steps still replay).
    shrunk: bool = True
    time_to_catch_s: float | None = None
    examples_to_catch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "properties": list(self.properties),
            "counterexample": self.counterexample,
            "counterexample_steps": self.counterexample_steps,
            "shrunk": self.shrunk,
            "time_to_catch_s": self.time_to_catch_s,
            "examples_to_catch": self.examples_to_catch,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Violation:
        return cls(
            message=str(data["message"]),
            properties=tuple(data.get("properties", ())),
            counterexample=str(data.get("counterexample", "")),
            counterexample_steps=data.get("counterexample_steps"),
            shrunk=bool(data.get("shrunk", True)),
            time_to_catch_s=data.get("time_to_catch_s"),
            examples_to_catch=data.get("examples_to_catch"),
        )


@dataclass(frozen=True)
class CheckRecord:
    """One check of one subject: what ran, how hard, what it found."""

    name: str
    status: Status
    driver: str = "model"
    description: str = ""
    #: Why it was skipped, why it is incomplete, or the error.
    reason: str | None = None
    seconds: float = 0.0
    examples: int = 0
    steps: int = 0
    ops: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    properties: tuple[PropertyRecord, ...] = ()
    violation: Violation | None = None
    #: The pytest node that ran it (None outside pytest).
    nodeid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "driver": self.driver,
            "description": self.description,
            "reason": self.reason,
            "seconds": self.seconds,
            "examples": self.examples,
            "steps": self.steps,
            "ops": self.ops,
            "faults": dict(self.faults),
            "properties": [p.to_dict() for p in self.properties],
            "violation": None if self.violation is None else self.violation.to_dict(),
            "nodeid": self.nodeid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckRecord:
        violation = data.get("violation")
        return cls(
            name=str(data["name"]),
            status=_status(data["status"]),
            driver=str(data.get("driver", "model")),
            description=str(data.get("description", "")),
            reason=data.get("reason"),
            seconds=float(data.get("seconds", 0.0)),
            examples=int(data.get("examples", 0)),
            steps=int(data.get("steps", 0)),
            ops=int(data.get("ops", 0)),
            faults={str(k): int(v) for k, v in data.get("faults", {}).items()},
            properties=tuple(PropertyRecord.from_dict(p) for p in data.get("properties", ())),
            violation=None if violation is None else Violation.from_dict(violation),
            nodeid=data.get("nodeid"),
        )


@dataclass(frozen=True)
class ScenarioResult:
    """A named experiment with measured results (a chaos scenario, a load measurement).

    `status` is `measured` when the experiment makes no pass/fail claim.
    """

    name: str
    status: Status = "measured"
    description: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "description": self.description,
            "measurements": jsonable(self.measurements),
            "figures": [f.to_dict() for f in self.figures],
            "findings": [jsonable(f) for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        return cls(
            name=str(data["name"]),
            status=_status(data.get("status", "measured")),
            description=str(data.get("description", "")),
            measurements=dict(data.get("measurements", {})),
            figures=tuple(Figure.from_dict(f) for f in data.get("figures", ())),
            findings=tuple(dict(f) for f in data.get("findings", ())),
        )


@dataclass(frozen=True)
class SubjectReport:
    """Everything checked about one cache under test."""

    name: str
    kind: str = "reference"
    description: str = ""
    contract: dict[str, Any] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    checks: tuple[CheckRecord, ...] = ()
    scenarios: tuple[ScenarioResult, ...] = ()
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        """error > failed > incomplete > passed > skipped, over the checks and scenarios."""
        statuses = {c.status for c in self.checks} | {s.status for s in self.scenarios}
        for status in ("error", "failed", "incomplete", "passed"):
            if status in statuses:
                return cast("Status", status)
        return "skipped" if "skipped" in statuses else "measured"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "status": self.status,
            "seconds": self.seconds,
            "contract": jsonable(self.contract),
            "capabilities": list(self.capabilities),
            "checks": [c.to_dict() for c in self.checks],
            "scenarios": [s.to_dict() for s in self.scenarios],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubjectReport:
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", "reference")),
            description=str(data.get("description", "")),
            contract=dict(data.get("contract", {})),
            capabilities=tuple(data.get("capabilities", ())),
            checks=tuple(CheckRecord.from_dict(c) for c in data.get("checks", ())),
            scenarios=tuple(ScenarioResult.from_dict(s) for s in data.get("scenarios", ())),
            seconds=float(data.get("seconds", 0.0)),
        )


@dataclass(frozen=True)
class Problem:
    """Something that kept part of the run from happening (a module that failed to import)."""

    where: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "message": self.message}


@dataclass(frozen=True)
class Report:
    """One run's report: `cachecheck run`, or a pytest session with `--cachecheck-report`."""

    source: str
    subjects: tuple[SubjectReport, ...] = ()
    created_at: str = ""
    duration_s: float = 0.0
    profile: str | None = None
    seed: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def status(self) -> Literal["passed", "failed"]:
        failing = any(s.status in FAILING for s in self.subjects)
        return "failed" if failing or self.problems else "passed"

    def totals(self) -> dict[str, int]:
        checks = [c for s in self.subjects for c in s.checks]
        counts = {status: sum(s.status == status for s in self.subjects) for status in STATUSES}
        return {
            "subjects": len(self.subjects),
            **{f"subjects_{k}": v for k, v in counts.items()},
            "checks": len(checks),
            **{f"checks_{k}": sum(c.status == k for c in checks) for k in STATUSES},
            "examples": sum(c.examples for c in checks),
            "steps": sum(c.steps for c in checks),
            "ops": sum(c.ops for c in checks),
            "faults": sum(sum(c.faults.values()) for c in checks),
            "violations": sum(c.violation is not None for c in checks),
            "problems": len(self.problems),
        }

    def violations(self) -> Iterable[tuple[SubjectReport, CheckRecord]]:
        """Every failed or errored check, in report order."""
        for subject in self.subjects:
            for check in subject.checks:
                if check.status in FAILING:
                    yield subject, check

    def to_dict(self) -> dict[str, Any]:
        from cachecheck import __version__

        return {
            "schema": "cachecheck-report",
            "schema_version": SCHEMA_VERSION,
            "generator": {"name": "cachecheck", "version": __version__},
            "created_at": self.created_at,
            "source": self.source,
            "profile": self.profile,
            "seed": self.seed,
            "status": self.status,
            "duration_s": self.duration_s,
            "totals": self.totals(),
            "environment": jsonable(self.environment),
            "problems": [p.to_dict() for p in self.problems],
            "subjects": [s.to_dict() for s in self.subjects],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        version = data.get("schema_version")
        if data.get("schema") != "cachecheck-report" or version != SCHEMA_VERSION:
            raise ValueError(
                f"not a cachecheck report of schema version {SCHEMA_VERSION} "
                f"(schema={data.get('schema')!r}, schema_version={version!r})"
            )
        return cls(
            source=str(data["source"]),
            subjects=tuple(SubjectReport.from_dict(s) for s in data.get("subjects", ())),
            created_at=str(data.get("created_at", "")),
            duration_s=float(data.get("duration_s", 0.0)),
            profile=data.get("profile"),
            seed=data.get("seed"),
            environment=dict(data.get("environment", {})),
            problems=tuple(Problem(str(p["where"]), str(p["message"])) for p in data["problems"]),
        )
