"""Correctness reports: the report model, and writers for report.json, report.html (inline
SVG plots, no network) and summary.md. No pytest here: `cachecheck run` and the pytest plugin
both build a `Report` and call `write_report`."""

from __future__ import annotations

from cachecheck._report._collect import (
    ReportCollector,
    build_subject,
    environment_facts,
    junit_properties,
    make_payload,
    now_iso,
    properties_from_results,
)
from cachecheck._report._figures import (
    expiry_histogram,
    loads_over_time,
    loss_windows,
    staleness_histogram,
    state_timeline,
)
from cachecheck._report._html import render_html
from cachecheck._report._markdown import render_markdown
from cachecheck._report._model import (
    SCHEMA_VERSION,
    CheckRecord,
    Figure,
    Problem,
    PropertyRecord,
    Report,
    ScenarioResult,
    Status,
    SubjectReport,
    Violation,
)
from cachecheck._report._svg import render as render_svg
from cachecheck._report._write import (
    ReportError,
    ReportPaths,
    check_writable,
    load_report,
    write_report,
)

__all__ = [
    "SCHEMA_VERSION",
    "CheckRecord",
    "Figure",
    "Problem",
    "PropertyRecord",
    "Report",
    "ReportCollector",
    "ReportError",
    "ReportPaths",
    "ScenarioResult",
    "Status",
    "SubjectReport",
    "Violation",
    "build_subject",
    "check_writable",
    "environment_facts",
    "expiry_histogram",
    "junit_properties",
    "load_report",
    "loads_over_time",
    "loss_windows",
    "make_payload",
    "now_iso",
    "properties_from_results",
    "render_html",
    "render_markdown",
    "render_svg",
    "staleness_histogram",
    "state_timeline",
    "write_report",
]
