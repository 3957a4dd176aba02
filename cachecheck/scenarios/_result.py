"""What a scenario returns: a verdict, the findings that prove it, and numbers with figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cachecheck.checkers import CheckResult, Finding
from cachecheck.checkers._result import jsonable

if TYPE_CHECKING:
    from cachecheck._report import ScenarioResult as ReportScenario

#: Checker name of the findings a scenario makes itself (bounds the checkers do not know).
SCENARIO_CHECKER = "scenario"


@dataclass(frozen=True)
class ScenarioResult:
    """One run of a named experiment on one subject.

    `passed` is True when no finding was made: neither a checker over the recorded history
    (`checks`) nor a bound of the scenario itself. `figures` are plot-ready dicts in the
    report's figure format (see `cachecheck.scenarios._figures` and docs/scenarios.md).

    ```python
    result = run_stampede(world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=3)
    assert result.passed, result.summary()
    print(result.measurements["max_loads_per_episode"])
    ```
    """

    name: str
    subject: str
    passed: bool
    findings: tuple[Finding, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    figures: tuple[dict[str, Any], ...] = ()
    seed: int = 0
    seconds: float = 0.0
    description: str = ""

    @property
    def violated(self) -> frozenset[str]:
        """Names of every violated property and of the checkers that found them."""
        return frozenset({f.property for f in self.findings} | {f.checker for f in self.findings})

    def finding_for(self, name: str) -> Finding | None:
        """The first finding of property (or checker) `name`, if any."""
        return next((f for f in self.findings if name in (f.property, f.checker)), None)

    def summary(self) -> str:
        """One line for assertion messages and logs, plus the first findings."""
        head = (
            f"{self.name} on {self.subject} (seed {self.seed}): "
            f"{'passed' if self.passed else 'FAILED'} in {self.seconds:.2f} s"
        )
        lines = [head] + [f"  [{f.checker}/{f.property}] {f.message}" for f in self.findings[:5]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Strictly JSON-ready (non-finite floats become strings)."""
        return {
            "name": self.name,
            "subject": self.subject,
            "passed": self.passed,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "description": self.description,
            "violated": sorted(self.violated),
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "parameters": jsonable(self.parameters),
            "measurements": jsonable(self.measurements),
            "figures": [jsonable(f) for f in self.figures],
        }

    def to_report(self) -> ReportScenario:
        """The report writer's record (`cachecheck._report.ScenarioResult`)."""
        from cachecheck._report import Figure
        from cachecheck._report import ScenarioResult as ReportScenario

        return ReportScenario(
            name=f"{self.name}: {self.subject}",
            status="passed" if self.passed else "failed",
            description=self.description,
            measurements={**self.measurements, "seed": self.seed, "seconds": self.seconds},
            figures=tuple(Figure.from_dict(f) for f in self.figures),
            findings=tuple(f.to_dict() for f in self.findings),
        )


def build_result(
    name: str,
    subject: str,
    *,
    checks: Sequence[CheckResult] = (),
    findings: Iterable[Finding] = (),
    parameters: Mapping[str, Any],
    measurements: Mapping[str, Any],
    figures: Iterable[dict[str, Any] | None] = (),
    seed: int,
    seconds: float,
    description: str,
) -> ScenarioResult:
    """Assemble a result: every checker finding plus the scenario's own, figures without
    the empty ones; `passed` when there is no finding at all."""
    found = [f for c in checks for f in c.findings] + list(findings)
    return ScenarioResult(
        name=name,
        subject=subject,
        passed=not found,
        findings=tuple(found),
        checks=tuple(checks),
        parameters=dict(parameters),
        measurements=dict(measurements),
        figures=tuple(f for f in figures if f is not None),
        seed=seed,
        seconds=seconds,
        description=description,
    )


def scenario_finding(
    prop: str,
    message: str,
    *,
    key: str | None = None,
    checker: str = SCENARIO_CHECKER,
    **details: Any,
) -> Finding:
    """A finding the scenario makes itself (a bound no checker knows about). `checker`
    groups it with the contract field it judges (e.g. "breaker")."""
    return Finding(checker, prop, key, message, details=dict(details))
