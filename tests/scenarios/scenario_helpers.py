"""Helpers of the scenario tests: every result must be JSON-ready and readable by the report
writer, and the registered mutants are looked up by name."""

from __future__ import annotations

import json
import os
from typing import Any

from cachecheck._report import Figure
from cachecheck.scenarios import ScenarioResult, run_catcher
from cachecheck.strategies import _mutants_core, _mutants_edge  # noqa: F401 - registers mutants
from cachecheck.strategies._registry import MUTANTS


def report_ready(result: ScenarioResult) -> ScenarioResult:
    """Assert the result survives JSON and the report writer's figure parser; return it."""
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["name"] == result.name and data["passed"] is result.passed
    assert "world" in data["parameters"], "parameters must record the world (Redis, client)"
    for figure in result.figures:
        Figure.from_dict(figure)
    report = result.to_report()
    assert report.status == ("passed" if result.passed else "failed")
    return result


def caught(world: Any, mutant: str, prop: str) -> ScenarioResult:
    """Run the catcher bound to `mutant`; assert it catches it through `prop`."""
    score = run_catcher(world, MUTANTS[mutant])
    assert score is not None, f"no catcher ran for {mutant}"
    assert score.caught, score.result.summary()
    assert score.prop == prop, (score.prop, score.result.summary())
    return report_ready(score.result)


#: The test process's pid, inherited by spawned children through the environment.
_PARENT = int(os.environ.setdefault("CACHECHECK_SCENARIO_TEST_PARENT", str(os.getpid())))


def fails_in_children(world: Any) -> Any:
    """A subject factory that works in the test process and raises in spawned children."""
    from cachecheck.strategies.stampede import make_locked_cache_aside

    if os.getpid() != _PARENT:
        raise RuntimeError("broken_child_factory: this factory fails in child processes")
    return make_locked_cache_aside(world)
