"""Collects mutation scores from the tests (on any xdist worker) and prints the table once."""

from __future__ import annotations

import json

import pytest

from cachecheck._mutation import MutantScore, format_table

SCORE_PROPERTY = "cachecheck_mutant_score"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    scores = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == SCORE_PROPERTY and getattr(report, "when", "call") == "call":
                    scores.append(MutantScore(**json.loads(value)))
    if scores:
        scores.sort(key=lambda s: s.name)
        terminalreporter.write_sep("=", "cachecheck mutation score")
        terminalreporter.write_line(format_table(scores))
