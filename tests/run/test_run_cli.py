"""`cachecheck run` end to end, in-process: progress, exit codes, the report, and one clear
message (exit code 2, no traceback) for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from targets import BOOM, GOOD, NO_CONTRACT

from cachecheck.cli import main


@pytest.fixture
def targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """Write the target modules under names unique to this test; return the name prefix."""
    prefix = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    (tmp_path / f"{prefix}_good.py").write_text(GOOD)
    (tmp_path / f"{prefix}_nocontract.py").write_text(NO_CONTRACT)
    (tmp_path / f"{prefix}_boom.py").write_text(BOOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return prefix


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    return code, out, err


BAD_INPUTS = {
    "not-module-factory": (["--target", "just_a_module"], "use module:factory"),
    "unknown-module": (["--target", "no_such_module_xyz:make"], "no module named 'no_such_mod"),
    "raises-on-import": (["--target", "{p}_boom:make"], "raised RuntimeError: kaboom at import"),
    "missing-factory": (["--target", "{p}_good:nope"], "has no 'nope'"),
    "not-callable": (["--target", "{p}_good:not_callable"], "is a int, not a factory"),
    "wrong-type": (["--target", "{p}_good:make_number"], "returned 'int', which is not a cache"),
    "factory-raises": (["--target", "{p}_good:make_raising"], "raised RuntimeError: no cache"),
    "no-contract": (["--target", "{p}_nocontract:make"], "no contract for"),
    "unknown-strategy": (["--strategy", "no_such_strategy"], "unknown strategy 'no_such_str"),
    "target-and-strategy": (["--target", "{p}_good:make", "--strategy", "x"], "either --target"),
    "unknown-check": (["--target", "{p}_good:make", "--check", "nope"], "unknown check nope"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_message(
    case: str, targets: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = BAD_INPUTS[case]
    code, out, err = run(capsys, *(a.format(p=targets) for a in args), "--no-report")
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err


def test_an_unwritable_report_dir_is_refused_before_the_run(
    targets: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    code, out, err = run(capsys, "--target", f"{targets}_good:make", "--report", "taken/sub")
    assert code == 2
    assert "cannot write the report to 'taken/sub'" in err
    assert out == ""  # refused before anything started


def test_a_bad_profile_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--profile", "forever"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'forever'" in capsys.readouterr().err


def test_a_correct_target_passes_and_writes_the_report(
    targets: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--target", f"{targets}_good:make", "--report", "out")
    assert code == 0, out + err
    assert "cachecheck run: profile quick, seed 0, 1 subject" in out
    assert "PASS  stateful_model" in out and "PASS  concurrent_clients" in out
    assert "skip  drain_converges" in out  # with its reason, for a single target
    assert "PASSED: 1 of 1 subjects passed" in out
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["status"] == "passed" and data["source"] == "cachecheck run"
    (subject,) = data["subjects"]
    assert subject["name"] == "target-tiny" and subject["kind"] == "target"
    assert {c["name"]: c["status"] for c in subject["checks"]}["stateful_model"] == "passed"
    assert (tmp_path / "out" / "report.html").exists()
    assert (tmp_path / "out" / "summary.md").read_text().startswith("## ✅ cachecheck: passed")


def test_a_buggy_target_fails_with_the_counterexample(
    targets: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--target", f"{targets}_good:make_buggy", "--no-report",
                       "--no-proxy", "--seed", "3", "--check", "stateful_model")  # fmt: skip
    assert code == 1
    assert "FAIL  stateful_model" in out
    assert "broke its contract" in out and "replay:" in out and "state.teardown()" in out
    assert "FAILED: 0 of 1 subjects passed, 1 checks failed" in out


def test_a_reference_strategy_runs_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code, out, _ = run(capsys, "--strategy", "cache_aside", "--report", str(tmp_path / "r"))
    assert code in (0, 1)  # the verdict belongs to the strategy; the run itself must work
    assert "[ 1/1] cache_aside:" in out
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [s["name"] for s in data["subjects"]] == ["cache_aside"]
    assert data["profile"] == "quick" and data["seed"] == 0


def test_a_strategy_whose_optional_dependency_is_missing_is_skipped_not_failed() -> None:
    from cachecheck._run import _unavailable

    subject = _unavailable("cachecheck.strategies.sharding", "uhashring.ring")
    assert subject.status == "skipped" and subject.name == "sharding"
    assert "pip install 'pytest-cachecheck[sharding]'" in (subject.checks[0].reason or "")
