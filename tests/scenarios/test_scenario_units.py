"""The pure parts of the scenarios: results, figures, judging helpers, exports and the catcher
table. No server needed."""

from __future__ import annotations

import json
import math

import pytest

import cachecheck.scenarios as scenarios
from cachecheck._database import Load
from cachecheck._history import Commit, Op, OpKind, Outcome
from cachecheck._report import Figure
from cachecheck.checkers import Finding
from cachecheck.scenarios import CATCHERS, ScenarioResult, catch_mutant
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._breaker import _clusters
from cachecheck.scenarios._common import lock_history, stats_ms
from cachecheck.scenarios._refresh_ahead import _max_in_flight
from cachecheck.scenarios._result import build_result, scenario_finding
from cachecheck.scenarios._write_behind import judged_ops
from cachecheck.strategies._registry import MUTANTS
from cachecheck.strategies.stampede import LockEvent, LockEventKind

#: The mutants the issue names as needing a scenario (the generic model cannot catch them).
REQUIRED = {
    "stampede_plain_del_release", "stampede_lock_without_nx", "stampede_lock_without_expiry",
    "xfetch_never_early", "xfetch_always_recompute", "breaker_no_half_open",
    "breaker_stale_after_partition", "refresh_ahead_refresh_storm",
    "write_behind_ack_before_commit", "invalidation_pubsub_no_flush_on_reconnect",
    "sharded_modulo_hashing", "size_guard_unversioned_chunks", "metrics_negative_hit_as_miss",
    "http_etag_unquoted", "http_ims_string_compare", "http_if_match_weak_compare",
    "http_304_with_body", "http_stores_private",
}  # fmt: skip


def test_exports_are_sorted_and_complete() -> None:
    """`__all__` lists every public name the package defines, sorted, and nothing else."""
    # pytest rewrites the plugin distribution's modules and adds "@py_builtins" and the like
    public = {n for n in vars(scenarios) if n[0] not in "_@" and n != "annotations"}
    assert set(scenarios.__all__) == public
    assert scenarios.__all__ == sorted(scenarios.__all__, key=lambda n: (not n.isupper(), n))


def test_every_required_mutant_has_a_catcher_and_every_catcher_a_mutant() -> None:
    import scenario_helpers  # noqa: F401 - registers every mutant

    assert set(CATCHERS) >= REQUIRED
    assert set(CATCHERS) <= set(MUTANTS)


def test_no_catcher_for_a_mutant_the_model_catches() -> None:
    class Unknown:
        name = "cache_aside_fill_without_ttl"

    assert catch_mutant(lambda: pytest.fail("no world needed"), Unknown()) is None


def test_a_result_is_json_ready_and_report_ready() -> None:
    finding = scenario_finding("loss_window", "lost too much", checker="durability", x=math.inf)
    result = build_result(
        "demo", "Subject", findings=[finding], parameters={"keys": ("a",), "world": {}},
        measurements={"nan": math.nan, "n": 1},
        figures=[fig.histogram("h", "ms", [1.0, 2.0], bound=1.5), None,
                 fig.states("s", [(0.0, "closed"), (1.0, "open")], 2.0),
                 fig.bars("b", "n", [("x", 1.0)]),
                 fig.series("t", "s", "n", [(0.0, 1.0)], markers=[(0.5, "crash")])],
        seed=3, seconds=0.5, description="d",
    )  # fmt: skip
    assert not result.passed and result.violated == {"durability", "loss_window"}
    assert result.finding_for("durability") is finding
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["measurements"]["nan"] == "nan" and data["violated"] == sorted(result.violated)
    assert [f["kind"] for f in data["figures"]] == ["histogram", "states", "bars", "series"]
    assert [Figure.from_dict(f).kind for f in result.figures] == [
        f["kind"] for f in data["figures"]
    ]
    report = result.to_report()
    assert report.status == "failed" and report.measurements["seed"] == 3
    assert "FAILED" in result.summary() and "lost too much" in result.summary()


def test_a_result_without_findings_passes() -> None:
    result = ScenarioResult("demo", "S", passed=True)
    assert result.violated == frozenset() and result.to_report().status == "passed"


def test_per_window_counts_and_series_are_thinned() -> None:
    assert fig.per_window([0.0, 0.01, 0.06, 0.2, 9.0], start=0.0, end=0.2, width=0.05) == [
        (0.0, 2.0), (0.05, 1.0), (0.1, 0.0), (0.15000000000000002, 0.0), (0.2, 1.0),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="width"):
        fig.per_window([], start=0, end=1, width=0)
    long = fig.series("t", "x", "y", [(float(i), 1.0) for i in range(10_000)])
    assert long is not None and len(long["points"]) == fig.MAX_POINTS
    assert fig.histogram("h", "x", []) is None and fig.states("s", [], 1.0) is None


def test_states_last_segment_runs_to_the_end() -> None:
    figure = fig.states("s", [(1.0, "open"), (0.0, "closed")], 3.0)
    assert figure is not None
    assert figure["segments"] == [[0.0, 1.0, "closed"], [1.0, 3.0, "open"]]


def test_stats_ms() -> None:
    assert stats_ms([]) == {"p50_ms": None, "p99_ms": None, "max_ms": None}
    assert stats_ms([0.001, 0.002, 0.010]) == {"p50_ms": 2.0, "p99_ms": 10.0, "max_ms": 10.0}


def _write(index: int, key: str, value: str, start: float, end: float) -> Op:
    return Op(index, "w", OpKind.WRITE, key, value, start, end, Outcome.OK)


def test_uncommitted_register_writes_are_not_judged() -> None:
    """A coalesced register write is left out; a lost set element and committed writes are
    kept."""
    ops = [
        _write(0, "w0.r0", "w0.r0#1", 0.0, 0.1),  # coalesced away
        _write(1, "w0.r0", "w0.r0#3", 0.2, 0.3),  # committed
        _write(2, "w0.s2", "w0.s2#2", 0.1, 0.2),  # lost
    ]
    commits = [Commit("w0.r0", 1, "w0.r0#3", 0.5)]
    kept, left_out = judged_ops(ops, commits)
    assert [op.index for op in kept] == [1, 2] and left_out == 1


def test_lock_history_pairs_acquires_and_releases() -> None:
    events = [
        LockEvent(LockEventKind.ACQUIRE, "k", "ta", "A", 0.0, 0.1, 1.0),
        LockEvent(LockEventKind.ACQUIRE, "k", "tb", "B", 1.2, 1.3, 1.0),
        LockEvent(LockEventKind.RELEASE, "k", "ta", "A", 1.5, 1.6, 1.0, deleted="tb"),
        LockEvent(LockEventKind.RELEASE, "k", "tb", "B", 1.7, 1.8, 1.0, deleted=None),
    ]
    holds, releases = lock_history(events)
    assert [(h.holder, h.acquired_at, h.released_at, h.lease_expires_at) for h in holds] == [
        ("A", 0.1, None, 1.0), ("B", 1.3, None, 2.2),
    ]  # fmt: skip
    assert {(r.holder, r.deleted_owner) for r in releases} == {("A", "B"), ("B", None)}


def test_probe_clusters() -> None:
    assert _clusters([0.0, 1.0, 2.0], 0.5) == [1, 1, 1]
    assert _clusters([0.0, 0.01, 0.02, 1.0], 0.5) == [3, 1]
    assert _clusters([], 0.5) == []


def test_refreshes_in_flight_from_load_times() -> None:
    loads = [Load("k", 1.0, "a"), Load("k", 1.1, "b"), Load("k", 2.0, "c"), Load("j", 1.0, "d")]
    assert _max_in_flight(loads, 0.3) == 2
    assert _max_in_flight([Load("k", 1.0, "a"), Load("k", 1.3, "b")], 0.3) == 1  # touching


def test_scenario_finding_defaults_to_the_scenario_checker() -> None:
    finding = scenario_finding("p", "m", key="k", a=1)
    assert finding == Finding("scenario", "p", "k", "m", details={"a": 1})
