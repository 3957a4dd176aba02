"""`pytest --cachecheck-report DIR`: suite results reach report.json/html/summary.md and JUnit
XML, once, also when pytest-xdist runs the tests in worker processes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUITE = """
from hypothesis import settings
from cachecheck import Contract, RunnerConfig, TtlPolicy
from cachecheck.suite import CacheSuite


class ReadThrough:
    def __init__(self, world):
        self.db = world.database

    def get(self, key):
        return self.db.read(key)

    def set(self, key, value):
        self.db.write(key, value)

    def delete(self, key):
        self.db.delete(key)


class TestReadThrough(CacheSuite):
    contract = Contract(name="read-through", read_your_writes=True, staleness_bound=0.0)
    settings = settings(max_examples=5, stateful_step_count=6, deadline=None, database=None)
    runner_config = RunnerConfig(clients=2, duration=0.2)
    checks = ("stateful_model", "concurrent_clients", "drain_converges", "worker_crash")

    def make_subject(self, world):
        return ReadThrough(world)
"""
INNER = ["-p", "no:valkey", "-p", "no:cacheprovider"]


def _report(directory: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((directory / "report.json").read_text())
    return data


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_suite_results_reach_the_report_and_junit(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makepyfile(test_rt=SUITE)
    result = pytester.runpytest_inprocess(
        *INNER, *workers, "--cachecheck-report", "out", "--junitxml", "junit.xml"
    )
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["cachecheck report (passed, 1 subjects): */out/report.html"])
    data = _report(pytester.path / "out")
    assert data["source"] == "pytest" and data["status"] == "passed"
    (subject,) = data["subjects"]  # type: ignore[misc]
    assert subject["name"] == "read-through" and subject["kind"] == "pytest"
    statuses = {c["name"]: c["status"] for c in subject["checks"]}
    assert statuses == {"stateful_model": "passed", "concurrent_clients": "passed",
                        "drain_converges": "skipped", "worker_crash": "skipped"}  # fmt: skip
    assert all(c["nodeid"].startswith("test_rt.py::TestReadThrough::") for c in subject["checks"])
    assert [s["name"] for s in subject["scenarios"]] == ["concurrent_clients"]
    assert (pytester.path / "out" / "report.html").exists()
    assert (pytester.path / "out" / "summary.md").exists()
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in cases
    }
    model = props["test_cachecheck[stateful_model]"]
    assert model["cachecheck.status"] == "passed" and int(model["cachecheck.examples"]) > 0
    assert props["test_cachecheck[worker_crash]"]["cachecheck.status"] == "skipped"


def test_without_the_option_no_report_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rt=SUITE)
    pytester.runpytest_inprocess(*INNER, "-k", "drain").assert_outcomes(skipped=1)
    assert not (pytester.path / "cachecheck-report").exists()


def test_the_environment_variable_names_the_directory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHECHECK_REPORT", "from-env")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makepyfile(test_rt=SUITE)
    pytester.runpytest_inprocess(*INNER, "-k", "drain").assert_outcomes(skipped=1)
    assert _report(pytester.path / "from-env")["status"] == "passed"


def test_an_unwritable_report_directory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "taken").write_text("a file")
    pytester.makepyfile(test_rt=SUITE)
    result = pytester.runpytest_inprocess(*INNER, "--cachecheck-report", "taken/out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cachecheck: --cachecheck-report: cannot write the report*"])
