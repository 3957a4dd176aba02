"""Hand-written histories for check_durability."""

from __future__ import annotations

import pytest

from cachecheck._contract import Contract, Durability
from cachecheck._history import Outcome
from cachecheck.checkers import check_durability

from .histories import H

SYNC = Contract()
ASYNC_500MS = Contract(durability=Durability.ASYNC, loss_window=0.5)


def test_empty_history_passes() -> None:
    res = check_durability([], [], [], SYNC)
    assert res.checked
    assert res.ok
    assert res.measurements["total"] == 0
    assert res.measurements["loss_rate"] == 0.0


def test_counts_in_set_full_style() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 3, 4, commit=None, outcome=Outcome.INFO)
    h.write("c1", "k", "v3", 5, 6, outcome=Outcome.INFO)
    h.write("c1", "k", "v4", 7, 8, commit=None, outcome=Outcome.FAIL)
    h.delete("c1", "k", 9, 10)
    h.read("c1", "k", None, 11, 12)
    res = check_durability(h.ops, h.commits, h.events, SYNC)
    assert res.ok
    m = res.measurements
    assert (m["total"], m["acknowledged"], m["survived"], m["lost"]) == (5, 2, 2, 0)
    assert (m["indeterminate"], m["indeterminate_committed"], m["failed"]) == (2, 1, 1)


def test_sync_lost_acknowledged_write_is_a_finding() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    w = h.write("c1", "k", "v2", 10, 12, commit=None)
    res = check_durability(h.ops, h.commits, h.events, SYNC)
    (f,) = res.findings
    assert f.property == "no_lost_writes"
    assert f.key == "k"
    assert f.ops == (w,)
    assert "'v2'" in f.message
    assert "12.00 ms" in f.message
    assert "SYNC" in f.message
    assert res.measurements["lost"] == 1
    assert res.measurements["loss_rate"] == 0.5


def test_sync_lost_delete_is_a_finding() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    d = h.delete("c1", "k", 10, 12, commit=None)
    (f,) = check_durability(h.ops, h.commits, h.events, SYNC).findings
    assert f.ops == (d,)
    assert "delete" in f.message


def test_delete_of_an_absent_key_needs_no_tombstone() -> None:
    h = H()
    h.delete("c1", "k", 10, 12, commit=None)
    assert check_durability(h.ops, h.commits, h.events, SYNC).ok


def test_async_loss_within_window_before_a_crash_is_allowed() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2, commit=5)
    h.write("c1", "k", "v2", 10, 12, commit=None)
    h.write("c1", "k", "v3", 100, 110, commit=None)
    h.event("redis_crash", 400)
    res = check_durability(h.ops, h.commits, h.events, ASYNC_500MS)
    assert res.ok
    assert res.measurements["loss_windows"] == [
        {
            "crash": "redis_crash",
            "at_s": pytest.approx(0.4),
            "lost": 2,
            "window_s": pytest.approx(0.388),
        }
    ]
    assert res.measurements["max_loss_window_s"] == pytest.approx(0.388)


def test_async_loss_outside_window_is_a_finding() -> None:
    h = H()
    w = h.write("c1", "k", "v1", 0, 2, commit=None)
    h.event("worker_crash", 900)
    (f,) = check_durability(h.ops, h.commits, h.events, ASYNC_500MS).findings
    assert f.ops == (w,)
    assert "worker_crash at 900.00 ms" in f.message
    assert "898.00 ms" in f.message
    assert f.details["crash"] == "worker_crash"


def test_async_loss_without_any_crash_is_a_finding() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2, commit=None)
    h.event("partition", 3)  # not a crash
    res = check_durability(h.ops, h.commits, h.events, ASYNC_500MS)
    (f,) = res.findings
    assert "no crash followed it" in f.message
    assert res.measurements["lost_without_crash"] == 1


def test_async_without_window_promises_nothing_about_loss() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2, commit=None)
    res = check_durability(h.ops, h.commits, h.events, Contract(durability=Durability.ASYNC))
    assert res.ok
    assert res.measurements["lost"] == 1


def test_failed_write_that_committed_is_a_finding() -> None:
    h = H()
    w = h.write("c1", "k", "v1", 0, 2, outcome=Outcome.FAIL)
    (f,) = check_durability(h.ops, h.commits, h.events, SYNC).findings
    assert f.property == "failed_writes_have_no_effect"
    assert f.ops == (w,)
    assert f.commits == (h.commits[0],)


def test_older_value_reapplied_over_newer_is_a_regression() -> None:
    h = H()
    w1 = h.write("c1", "k", "v1", 0, 1, commit=10)
    w2 = h.write("c1", "k", "v2", 2, 3, commit=20)
    h.commit("k", "v1", 30)  # a replayed queue entry
    res = check_durability(h.ops, h.commits, h.events, ASYNC_500MS)
    (f,) = res.findings
    assert f.property == "no_regression"
    assert f.ops == (w1, w2)
    assert [c.version for c in f.commits] == [2, 3]
    assert "Older value applied over newer" in f.message
    assert res.measurements["regressions"] == 1


def test_overlapping_writes_may_commit_in_either_order() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 10, commit=None)
    h.write("c2", "k", "v2", 2, 3, commit=None)
    h.commit("k", "v2", 2.5)
    h.commit("k", "v1", 8)
    assert check_durability(h.ops, h.commits, h.events, SYNC).ok
