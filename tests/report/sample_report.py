"""A hand-made report with every record type and figure kind, for the writer tests."""

from __future__ import annotations

from cachecheck._report import (
    CheckRecord,
    Figure,
    Problem,
    PropertyRecord,
    Report,
    ScenarioResult,
    SubjectReport,
    Violation,
)

COUNTEREXAMPLE = """state = CacheModel[demo]()
state.concurrently(ops=['read', 'write'], key='k0', first=0, switches=[2])
state.teardown()"""


def sample_report() -> Report:
    passed = CheckRecord(
        name="stateful_model",
        status="passed",
        examples=50,
        steps=600,
        seconds=1.5,
        faults={"redis_crash": 3},
        properties=(
            PropertyRecord("staleness", True, True, measurements={"p99_staleness_s": 0.001}),
            PropertyRecord("single_flight", False, True, "the contract does not promise it"),
        ),
    )
    failed = CheckRecord(
        name="stateful_model",
        status="failed",
        examples=12,
        steps=90,
        seconds=2.0,
        properties=(PropertyRecord("convergence", True, False, violations=1),),
        violation=Violation(
            message="demo broke its contract:\n  [convergence] the cache holds 'k0' = 'k0#0'",
            properties=("convergence",),
            counterexample=COUNTEREXAMPLE,
            counterexample_steps=1,
            time_to_catch_s=0.4,
            examples_to_catch=7,
        ),
    )
    skipped = CheckRecord("worker_crash", "skipped", reason="the subject has no worker")
    scenario = ScenarioResult(
        name="concurrent_clients",
        description="4 clients for 1 s",
        measurements={"operations": 1234, "p99_staleness_ms": 1.5},
        figures=(
            Figure("histogram", "Staleness of reads", "staleness (ms)", "reads",
                   values=(0.0, 0.0, 0.4, 1.2, 3.5, 3.6), bound=5.0),
            Figure("series", "Database loads over time", "time (s)", "loads",
                   points=((0.0, 1.0), (0.5, 4.0), (1.0, 0.0)), markers=((0.5, "expire"),)),
            Figure("states", "Breaker state", "time (s)",
                   segments=((0.0, 1.0, "closed"), (1.0, 2.5, "open"), (2.5, 3.0, "half-open"))),
            Figure("bars", "Loss window per persistence mode", "loss window (ms)",
                   bars=(("none", 1200.0), ("aof:everysec", 1010.0), ("aof:always", 0.0))),
        ),
    )  # fmt: skip
    return Report(
        source="test",
        subjects=(
            SubjectReport(
                "good",
                checks=(passed, skipped),
                scenarios=(scenario,),
                contract={"name": "good", "converges": True},
            ),
            SubjectReport("bad <cache>", checks=(failed,), contract={"name": "bad"}),
        ),
        created_at="2026-01-01T00:00:00Z",
        duration_s=3.5,
        profile="quick",
        seed=0,
        environment={"python": "3.11"},
        problems=(Problem("cachecheck.strategies.broken", "import failed: SyntaxError"),),
    )
