"""The report model and its writers, on a hand-made report (no servers): versioned JSON that
round-trips, a self-contained HTML page with inline SVG, a Markdown CI summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sample_report import COUNTEREXAMPLE, sample_report

from cachecheck._report import (
    SCHEMA_VERSION,
    Figure,
    Report,
    ReportCollector,
    ReportError,
    check_writable,
    junit_properties,
    load_report,
    make_payload,
    render_html,
    render_markdown,
    render_svg,
    write_report,
)
from cachecheck._report._svg import histogram_bins, nice_ticks, tick_label


def test_json_round_trips_and_is_versioned(tmp_path: Path) -> None:
    report = sample_report()
    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths.json.read_text())
    assert data["schema"] == "cachecheck-report"
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["status"] == "failed"
    assert data["totals"]["violations"] == 1
    assert data["totals"]["faults"] == 3
    assert load_report(paths.json) == report


def test_an_unknown_schema_version_is_refused() -> None:
    data = sample_report().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema version"):
        Report.from_dict(data)


def test_status_is_worst_of_the_checks() -> None:
    report = sample_report()
    assert [s.status for s in report.subjects] == ["passed", "failed"]
    assert [c.name for _, c in report.violations()] == ["stateful_model"]


def test_html_is_self_contained(tmp_path: Path) -> None:
    html = render_html(sample_report())
    assert "<script" not in html and "<link" not in html and " src=" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert html.count("<svg") == 4
    assert "bad &lt;cache&gt;" in html  # names are escaped
    assert "state.concurrently(ops=[&#x27;read&#x27;" in html


def test_markdown_summary_has_the_table_and_the_replay() -> None:
    text = render_markdown(sample_report())
    assert text.startswith("## ❌ cachecheck: failed")
    assert "| good | ✅ passed |" in text
    assert "```python" in text and COUNTEREXAMPLE.splitlines()[1] in text
    assert "worker_crash: the subject has no worker" in text
    assert "cachecheck.strategies.broken" in text


def test_the_summary_is_appended_to_the_github_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier job output\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_report(sample_report(), tmp_path / "out")
    text = summary.read_text()
    assert text.startswith("earlier job output\n## ❌ cachecheck: failed")


def test_an_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ReportError, match=r"cannot write the report to .*a-file/report"):
        check_writable(blocker / "report")


@pytest.mark.parametrize("kind", ["histogram", "series", "states", "bars"])
def test_every_figure_kind_renders_and_empty_figures_say_so(kind: str) -> None:
    figures = {
        f.kind: f for s in sample_report().subjects for sc in s.scenarios for f in sc.figures
    }
    svg = render_svg(figures[kind])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "no data" in render_svg(Figure(kind, "Empty"))  # type: ignore[arg-type]


def test_histogram_bins_and_ticks() -> None:
    edges, counts = histogram_bins([0.0, 0.0, 1.0, 2.0])
    assert sum(counts) == 4 and edges[0] == 0.0 and edges[-1] == 2.0
    assert histogram_bins([5.0, 5.0]) == ([5.0, 10.0], [2])
    assert nice_ticks(0, 9.3) == [0, 2, 4, 6, 8]
    ticks = nice_ticks(59.99, 60.0)
    assert len({tick_label(t, ticks) for t in ticks}) == len(ticks)  # labels stay distinct


def test_collector_merges_payloads_by_subject_and_reports_bad_ones() -> None:
    subject = sample_report().subjects[0]
    collector = ReportCollector()
    for check in subject.checks:
        collector.add(make_payload("mod.py::TestGood", subject, check, subject.scenarios))
    collector.add({"subject_id": "x", "check": {"status": "nonsense"}})
    report = collector.build(duration_s=1.0)
    assert len(report.subjects) == 1
    assert [c.name for c in report.subjects[0].checks] == ["stateful_model", "worker_crash"]
    assert len(report.subjects[0].scenarios) == 2  # one per payload, as shipped
    assert "unreadable result payload" in report.problems[0].message


def test_junit_properties_summarise_a_payload() -> None:
    subject = sample_report().subjects[1]
    props = dict(junit_properties(make_payload("m::T", subject, subject.checks[0])))
    assert props["cachecheck.status"] == "failed"
    assert props["cachecheck.violated"] == "convergence"
    assert props["cachecheck.counterexample"] == COUNTEREXAMPLE
    assert props["cachecheck.examples"] == "12"
