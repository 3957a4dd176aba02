"""summary.md: a short Markdown summary for CI job summaries (GitHub's `$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

from cachecheck._report._model import CheckRecord, Report, SubjectReport

#: Counterexamples longer than this many lines are cut in the summary (report.html has all).
MAX_REPLAY_LINES = 40
_ICONS = {
    "passed": "✅",
    "failed": "❌",
    "error": "💥",
    "skipped": "⏭️",
    "incomplete": "⏳",
    "measured": "📏",
}


def render_markdown(report: Report) -> str:
    """The summary as Markdown text (ends with a newline)."""
    lines = [*_head(report), "", *_table(report)]
    violations = list(report.violations())
    if violations:
        lines += ["", "### Violations", ""]
        for subject, check in violations:
            lines += _violation(subject, check)
    skipped = [(s, c) for s in report.subjects for c in s.checks if c.status == "skipped"]
    if skipped:
        lines += ["", "<details><summary>Skipped checks</summary>", ""]
        lines += [f"- **{s.name}** · {c.name}: {c.reason or 'skipped'}" for s, c in skipped]
        lines += ["", "</details>"]
    if report.problems:
        lines += ["", "### Problems", ""]
        lines += [f"- **{p.where}**: {p.message}" for p in report.problems]
    return "\n".join(lines) + "\n"


def _head(report: Report) -> list[str]:
    t = report.totals()
    title = f"## {_ICONS[report.status]} cachecheck: {report.status}"
    facts = [f"{t['subjects']} subjects", f"{t['checks'] - t['checks_skipped']} checks run",
             f"{t['checks_skipped']} skipped", f"{t['examples']} examples",
             f"{t['steps']} steps", f"{t['ops']} operations", f"{t['faults']} faults injected",
             f"{t['violations']} violations", f"{report.duration_s:.1f} s"]  # fmt: skip
    where = report.source + (f", profile {report.profile}" if report.profile else "")
    return [title, "", f"{' · '.join(facts)} ({where})"]


def _table(report: Report) -> list[str]:
    lines = ["| subject | status | checks | examples | steps | ops |", "|---|---|---|--:|--:|--:|"]
    for s in report.subjects:
        statuses = " ".join(_ICONS[c.status] for c in s.checks)
        lines.append(
            f"| {_cell(s.name)} | {_ICONS[s.status]} {s.status} | {statuses} | "
            f"{sum(c.examples for c in s.checks)} | {sum(c.steps for c in s.checks)} | "
            f"{sum(c.ops for c in s.checks)} |"
        )
    return lines


def _violation(subject: SubjectReport, check: CheckRecord) -> list[str]:
    v = check.violation
    head = f"**{subject.name}** · `{check.name}`"
    if v is None:
        return [f"- {head}: {check.reason or check.status}", ""]
    lines = [f"- {head}: {', '.join(v.properties) or check.status}"]
    first = v.message.splitlines()[1:2] or v.message.splitlines()[:1]
    lines += [f"  {first[0].strip()}" if first else "", ""]
    if v.counterexample:
        replay = v.counterexample.splitlines()
        if len(replay) > MAX_REPLAY_LINES:
            replay = [*replay[:MAX_REPLAY_LINES], f"# … {len(replay) - MAX_REPLAY_LINES} more"]
        lines += ["  ```python", *(f"  {line}" for line in replay), "  ```", ""]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
