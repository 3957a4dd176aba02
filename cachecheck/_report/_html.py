"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from cachecheck._report._model import CheckRecord, Report, ScenarioResult, SubjectReport
from cachecheck._report._svg import render

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
  background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#666;margin-bottom:16px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:10px 0}
.totals{display:flex;flex-wrap:wrap;gap:10px}
.total{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 14px;min-width:90px}
.total b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;
  color:#fff}
.passed{background:#2e7d32}.failed{background:#c62828}.error{background:#6a1b1b}
.skipped{background:#78909c}.incomplete{background:#ef6c00}.measured{background:#1565c0}
pre{background:#272822;color:#f8f8f2;padding:10px 12px;border-radius:4px;overflow-x:auto;
  font-size:12.5px}
pre.message{white-space:pre-wrap;word-break:break-word}
.violation{border-left:4px solid #c62828}
.reason{color:#555}
.figures{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
.note{color:#666;font-size:12px;max-width:640px}
.empty{color:#888}
details>summary{cursor:pointer;color:#444}
"""

_MEASUREMENT_KEYS = 14


def render_html(report: Report) -> str:
    """The whole page as one string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>cachecheck report: {report.status}</title>",
        f"<style>{CSS}</style></head><body><main>",
        *_header(report),
        *_problems(report),
        *_overview(report),
        *_violations(report),
        *(line for subject in report.subjects for line in _subject(subject)),
        *_environment(report),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def anchor(name: str) -> str:
    """A stable HTML id for a subject name."""
    return "subject-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def _header(report: Report) -> list[str]:
    totals = report.totals()
    meta = [f"source: {report.source}"]
    if report.profile:
        meta.append(f"profile: {report.profile}")
    if report.seed is not None:
        meta.append(f"seed: {report.seed}")
    meta += [f"created: {report.created_at}", f"duration: {report.duration_s:.1f} s"]
    cards = [
        ("subjects", totals["subjects"]),
        ("passed", totals["subjects_passed"]),
        ("failed", totals["subjects_failed"] + totals["subjects_error"]),
        ("checks run", totals["checks"] - totals["checks_skipped"]),
        ("checks skipped", totals["checks_skipped"]),
        ("examples", totals["examples"]),
        ("steps", totals["steps"]),
        ("operations", totals["ops"]),
        ("faults injected", totals["faults"]),
        ("violations", totals["violations"]),
    ]
    return [
        f"<h1>cachecheck report {_badge(report.status)}</h1>",
        f'<div class="meta">{escape(" · ".join(meta))}</div>',
        '<div class="totals">',
        *(f'<div class="total"><b>{v}</b>{escape(k)}</div>' for k, v in cards),
        "</div>",
    ]


def _problems(report: Report) -> list[str]:
    if not report.problems:
        return []
    rows = "".join(
        f"<li><b>{escape(p.where)}</b>: {escape(p.message)}</li>" for p in report.problems
    )
    return ["<h2>Problems</h2>", f'<div class="card violation"><ul>{rows}</ul></div>']


def _overview(report: Report) -> list[str]:
    head = _row(["subject", "status", "checks", "examples", "steps", "operations", "faults",
                 "time (s)"], header=True, numeric=range(3, 8))  # fmt: skip
    rows = []
    for s in report.subjects:
        counts = _check_counts(s.checks)
        link = f'<a href="#{anchor(s.name)}">{escape(s.name)}</a>'
        rows.append(
            _row(
                [link, _badge(s.status), escape(counts), *_effort(s.checks), f"{s.seconds:.1f}"],
                numeric=range(3, 8),
                raw=True,
            )
        )
    return ["<h2>Subjects</h2>", f"<table>{head}{''.join(rows)}</table>"]


def _effort(checks: Iterable[CheckRecord]) -> list[str]:
    ran = list(checks)
    faults = sum(sum(c.faults.values()) for c in ran)
    return [str(sum(c.examples for c in ran)), str(sum(c.steps for c in ran)),
            str(sum(c.ops for c in ran)), str(faults)]  # fmt: skip


def _check_counts(checks: Iterable[CheckRecord]) -> str:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _violations(report: Report) -> list[str]:
    found = list(report.violations())
    if not found:
        return ["<h2>Violations</h2>", '<div class="card">No contract was broken.</div>']
    parts = ["<h2>Violations</h2>"]
    for subject, check in found:
        parts.append(f'<div class="card violation"><h3>{escape(subject.name)} · '
                     f"{escape(check.name)} {_badge(check.status)}</h3>")  # fmt: skip
        parts.extend(_violation_body(check))
        parts.append("</div>")
    return parts


def _violation_body(check: CheckRecord) -> list[str]:
    v = check.violation
    if v is None:
        return [f'<pre class="message">{escape(check.reason or "failed")}</pre>']
    facts = [f"properties: {', '.join(v.properties) or 'n/a'}"]
    if v.counterexample_steps is not None:
        facts.append(
            f"{v.counterexample_steps} steps" + ("" if v.shrunk else " (not fully shrunk)")
        )
    if v.time_to_catch_s is not None:
        facts.append(f"caught after {v.time_to_catch_s:.2f} s")
    if v.examples_to_catch is not None:
        facts.append(f"{v.examples_to_catch} examples")
    parts = [
        f"<p>{escape(' · '.join(facts))}</p>",
        f'<pre class="message">{escape(v.message)}</pre>',
    ]
    if v.counterexample:
        parts += ["<p>Replay:</p>", f"<pre>{escape(v.counterexample)}</pre>"]
    return parts


def _subject(subject: SubjectReport) -> list[str]:
    parts = [
        f'<h2 id="{anchor(subject.name)}">{escape(subject.name)} {_badge(subject.status)}</h2>',
    ]
    if subject.description:
        parts.append(f"<p>{escape(subject.description)}</p>")
    parts.append(f'<p class="reason">{escape(_promises(subject.contract))}</p>')
    caps = ", ".join(subject.capabilities) or "none"
    parts.append(f'<p class="reason">capabilities: {escape(caps)}</p>')
    parts += _checks_table(subject.checks)
    parts += _properties_table(subject.checks)
    for scenario in subject.scenarios:
        parts += _scenario(scenario)
    return parts


def _promises(contract: Mapping[str, Any]) -> str:
    """The contract's promises in one line (defaults that promise nothing are left out)."""
    shown = []
    for key, value in contract.items():
        if key in ("name", "notes", "extra") or value in (None, False, {}, [], ""):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, [], ()))
        shown.append(f"{key}: {value}")
    return "contract: " + ("; ".join(shown) or "no promises")


def _checks_table(checks: Iterable[CheckRecord]) -> list[str]:
    head = _row(["check", "status", "examples", "steps", "operations", "faults", "time (s)",
                 "notes"], header=True, numeric=range(2, 7))  # fmt: skip
    rows = []
    for c in checks:
        faults = ", ".join(f"{k}: {v}" for k, v in sorted(c.faults.items())) or "0"
        cells = [escape(c.name), _badge(c.status), str(c.examples), str(c.steps), str(c.ops),
                 escape(faults), f"{c.seconds:.2f}", escape(c.reason or c.description)]  # fmt: skip
        rows.append(_row(cells, numeric=range(2, 7), raw=True))
    return ["<h3>Checks</h3>", f"<table>{head}{''.join(rows)}</table>"]


def _properties_table(checks: Iterable[CheckRecord]) -> list[str]:
    ran = [c for c in checks if c.properties]
    names = list(dict.fromkeys(p.name for c in ran for p in c.properties))
    if not names:
        return []
    head = _row(["property", *(c.name for c in ran)], header=True)
    rows = []
    for name in names:
        cells = [escape(name)]
        for c in ran:
            prop = next((p for p in c.properties if p.name == name), None)
            if prop is None:
                cells.append("")
            elif not prop.checked:
                cells.append(f'<span class="reason" title="{escape(prop.skipped_reason or "")}">'
                             "not promised</span>")  # fmt: skip
            else:
                cells.append(_badge("passed" if prop.ok else "failed"))
        rows.append(_row(cells, raw=True))
    return ["<h3>Properties</h3>", f"<table>{head}{''.join(rows)}</table>"]


def _scenario(scenario: ScenarioResult) -> list[str]:
    parts = [f"<h3>Scenario: {escape(scenario.name)} {_badge(scenario.status)}</h3>"]
    if scenario.description:
        parts.append(f'<p class="reason">{escape(scenario.description)}</p>')
    items = [(k, v) for k, v in scenario.measurements.items() if not isinstance(v, list | dict)]
    if items:
        rows = "".join(
            _row([escape(k), escape(_value(v))], numeric=[1], raw=True)
            for k, v in items[:_MEASUREMENT_KEYS]
        )
        parts.append(f'<table style="max-width:520px">{rows}</table>')
    if scenario.figures:
        parts.append('<div class="figures">')
        for figure in scenario.figures:
            note = f'<div class="note">{escape(figure.note)}</div>' if figure.note else ""
            parts.append(f"<figure><figcaption>{escape(figure.title)}</figcaption>"
                         f"{render(figure)}{note}</figure>")  # fmt: skip
        parts.append("</div>")
    return parts


def _environment(report: Report) -> list[str]:
    text = json.dumps(report.environment, indent=2, sort_keys=True, default=str)
    return [
        "<h2>Environment</h2>",
        f"<details><summary>world, versions, settings</summary><pre>{escape(text)}</pre></details>",
    ]


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _row(
    cells: Iterable[str],
    *,
    header: bool = False,
    numeric: Iterable[int] = (),
    raw: bool = False,
) -> str:
    tag = "th" if header else "td"
    nums = set(numeric)
    out = []
    for i, cell in enumerate(cells):
        css = ' class="num"' if i in nums else ""
        out.append(f"<{tag}{css}>{cell if raw else escape(cell)}</{tag}>")
    return f"<tr>{''.join(out)}</tr>"
