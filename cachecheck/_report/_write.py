"""Write a report to a directory: report.json, report.html, summary.md (and the CI summary)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cachecheck._errors import CachecheckError
from cachecheck._report._html import render_html
from cachecheck._report._markdown import render_markdown
from cachecheck._report._model import Report

JSON_NAME = "report.json"
HTML_NAME = "report.html"
MARKDOWN_NAME = "summary.md"
#: GitHub Actions appends the Markdown in this file to the job's summary page.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


class ReportError(CachecheckError, OSError):
    """The report directory cannot be created or written."""


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written."""

    directory: Path
    json: Path
    html: Path
    markdown: Path


def check_writable(directory: str | os.PathLike[str]) -> Path:
    """Create `directory` if needed and prove it is writable; raise `ReportError` otherwise.

    Called before a run starts, so a bad `--report` fails in a second, not after the run.
    """
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".cachecheck-write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReportError(
            f"cannot write the report to {str(path)!r}: {reason}. "
            "Choose a directory you can write to."
        ) from None
    return path


def write_report(report: Report, directory: str | os.PathLike[str]) -> ReportPaths:
    """Write all three files into `directory` (created if needed).

    When `$GITHUB_STEP_SUMMARY` is set, the Markdown summary is appended to that file too.
    """
    path = check_writable(directory)
    paths = ReportPaths(path, path / JSON_NAME, path / HTML_NAME, path / MARKDOWN_NAME)
    markdown = render_markdown(report)
    try:
        paths.json.write_text(
            json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        paths.html.write_text(render_html(report), encoding="utf-8")
        paths.markdown.write_text(markdown, encoding="utf-8")
        summary = os.environ.get(STEP_SUMMARY_ENV)
        if summary:
            with open(summary, "a", encoding="utf-8") as out:
                out.write(markdown)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {str(path)!r}: {exc}") from None
    return paths


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read a report.json written by `write_report` (schema-version checked)."""
    with open(path, encoding="utf-8") as handle:
        return Report.from_dict(json.load(handle))
