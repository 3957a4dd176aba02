"""Hand-written histories for check_staleness."""

from __future__ import annotations

import json

import pytest

from cachecheck._contract import Contract
from cachecheck._history import Outcome
from cachecheck.checkers import check_staleness

from .histories import H

BOUND_5MS = Contract(staleness_bound=0.005)
BOUND_0 = Contract(staleness_bound=0.0)


def test_empty_history_passes_and_measures_nothing() -> None:
    res = check_staleness([], [], BOUND_5MS)
    assert res.checked
    assert res.ok
    assert res.measurements["reads"] == 0
    assert res.measurements["max_staleness_s"] is None
    assert res.measurements["nines_consistent"] is None
    json.dumps(res.to_dict(), allow_nan=False)


def test_fresh_sequential_reads_pass() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.read("c2", "k", "v1", 3, 4)
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.ok
    assert res.measurements["stale_reads"] == 0
    assert res.measurements["nines_consistent"] == "all"
    assert res.measurements["fraction_consistent"] == 1.0


def test_absent_initial_state_is_a_fresh_read() -> None:
    h = H()
    h.read("c1", "k", None, 0, 1)
    h.write("c1", "k", "v1", 5, 6)
    assert check_staleness(h.ops, h.commits, BOUND_0).ok


def test_read_concurrent_with_write_may_see_either_value() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 20, commit=15)
    h.read("c2", "k", "v1", 12, 18)  # invoked before the commit: not stale at all
    h.read("c3", "k", "v1", 16, 18)  # after the commit but while the write is in flight
    h.read("c4", "k", "v2", 12, 18)
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.ok, res.findings
    assert res.measurements["stale_reads"] == 1
    assert res.measurements["max_staleness_s"] == pytest.approx(0.001)


def test_stale_read_beyond_bound_is_a_minimal_finding() -> None:
    h = H()
    w1 = h.write("c1", "k", "v1", 0, 2)
    w2 = h.write("c1", "k", "v2", 10, 12)
    h.read("c3", "other", None, 0, 1)
    r = h.read("c2", "k", "v1", 20, 21)
    res = check_staleness(h.ops, h.commits, BOUND_5MS)
    assert not res.ok
    (f,) = res.findings
    assert f.property == "bounded_staleness"
    assert f.key == "k"
    assert f.ops == (r, w1, w2)
    assert [c.value for c in f.commits] == ["v1", "v2"]
    for text in ("'v1'", "'v2'", "version 2", "20.00 ms", "12.00 ms", "5.00 ms", "c2", "c1"):
        assert text in f.message
    assert f.details["staleness_s"] == pytest.approx(0.009)
    assert f.details["overdue_s"] == pytest.approx(0.008)
    assert res.measurements["reads_over_bound"] == 1
    json.dumps(res.to_dict(), allow_nan=False)


def test_stale_read_within_bound_is_measured_not_flagged() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 12)
    h.read("c2", "k", "v1", 20, 21)
    res = check_staleness(h.ops, h.commits, Contract(staleness_bound=0.010))
    assert res.ok
    assert res.measurements["stale_reads"] == 1
    assert res.measurements["max_staleness_s"] == pytest.approx(0.009)


def test_staleness_counts_from_the_first_newer_commit() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 12)  # committed at 11
    h.write("c1", "k", "v3", 20, 22)  # committed at 21
    h.read("c2", "k", "v1", 30, 31)
    h.read("c2", "k", "v2", 30, 31)
    res = check_staleness(h.ops, h.commits, Contract(staleness_bound=1.0))
    assert sorted(res.measurements["staleness_samples_s"]) == pytest.approx([0.009, 0.019])


def test_reads_of_indeterminate_writes() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 5, commit=3, outcome=Outcome.INFO)
    h.write("c1", "k", "v2", 10, 15, commit=None, outcome=Outcome.INFO)
    h.read("c2", "k", "v1", 20, 21)
    h.read("c2", "k", "v2", 22, 23)  # never committed: not placed, judged elsewhere
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.ok
    assert res.measurements["reads"] == 1
    assert res.measurements["unplaced_reads"] == 1


def test_tombstones_and_reads_of_none() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    d = h.delete("c1", "k", 10, 12)
    h.read("c2", "k", None, 20, 21)
    assert check_staleness(h.ops, h.commits, BOUND_0).ok

    r = h.read("c2", "k", "v1", 22, 23)
    res = check_staleness(h.ops, h.commits, BOUND_0)
    (f,) = res.findings
    assert f.ops[0] is r
    assert d in f.ops
    assert "absent (deleted at version 2" in f.message


def test_read_of_none_after_a_write_is_stale_against_the_initial_state() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    r = h.read("c2", "k", None, 10, 11)
    (f,) = check_staleness(h.ops, h.commits, BOUND_0).findings
    assert f.ops[0] is r
    assert "initial state" in f.message
    assert f.details["seen_version"] == 0


def test_tombstone_due_waits_for_the_delete_to_complete() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.delete("c1", "k", 10, 20, commit=12)
    h.read("c2", "k", "v1", 15, 16)  # the delete is still in flight
    assert check_staleness(h.ops, h.commits, BOUND_0).ok


def test_future_read_is_flagged() -> None:
    h = H()
    r = h.read("c2", "k", "v1", 0, 1)
    w = h.write("c1", "k", "v1", 5, 6)
    res = check_staleness(h.ops, h.commits, BOUND_5MS)
    (f,) = res.findings
    assert f.property == "no_future_reads"
    assert f.ops == (r, w)
    assert "only invoked at 5.00 ms" in f.message
    assert res.measurements["future_reads"] == 1


def test_future_read_of_a_value_no_op_wrote() -> None:
    h = H()
    h.read("c2", "k", "v1", 0, 1)
    h.commit("k", "v1", 50)
    (f,) = check_staleness(h.ops, h.commits, BOUND_5MS).findings
    assert f.property == "no_future_reads"
    assert "committed at 50.00 ms" in f.message


def test_write_behind_value_seen_before_its_commit_is_not_a_future_read() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 1, commit=50)  # acknowledged, committed later
    h.read("c2", "k", "v1", 2, 3)
    assert check_staleness(h.ops, h.commits, BOUND_0).ok


def test_no_bound_means_skipped_but_measured() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 12)
    h.read("c2", "k", "v1", 20, 21)
    res = check_staleness(h.ops, h.commits, Contract())
    assert not res.checked
    assert res.ok
    assert "staleness bound" in (res.skipped_reason or "")
    assert res.measurements["stale_reads"] == 1
    assert res.measurements["nines_consistent"] is None


def test_nines_of_writes_consistent() -> None:
    h = H()
    h.write("c1", "a", "a1", 0, 2)
    h.write("c1", "a", "a2", 10, 12)
    h.write("c1", "b", "b1", 0, 2)
    h.write("c1", "c", "c1", 0, 2)
    h.read("c2", "a", "a1", 20, 21)  # misses a2
    h.read("c2", "a", "a2", 30, 31)
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.measurements["writes"] == 4
    assert res.measurements["writes_consistent_within_bound"] == 3
    assert res.measurements["fraction_consistent"] == 0.75
    assert res.measurements["nines_consistent"] == pytest.approx(0.602, abs=1e-3)


def test_commit_times_out_of_version_order_use_the_later_version_as_proof() -> None:
    h = H()
    h.commit("k", "v1", 30)  # logged late: version 2 proves it was committed by 11
    h.commit("k", "v2", 11)
    h.ops.clear()
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.ok
    h.read("c2", "k", None, 20, 21)
    (f,) = check_staleness(h.ops, h.commits, BOUND_0).findings
    assert f.details["newer_version"] == 1
    assert f.details["staleness_s"] == pytest.approx(0.009)


def test_samples_are_capped_deterministically() -> None:
    h = H()
    h.write("c1", "k", "v0", 0, 1)
    for i in range(100):
        h.read("c2", "k", "v0", 10 + i, 10.5 + i)
    a = check_staleness(h.ops, h.commits, BOUND_0, max_samples=10).measurements
    b = check_staleness(h.ops, h.commits, BOUND_0, max_samples=10).measurements
    assert len(a["staleness_samples_s"]) == 10
    assert a == b
    assert a["reads"] == 100


def test_failed_reads_are_ignored() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 12)
    h.read("c2", "k", None, 20, 21, outcome=Outcome.FAIL)
    res = check_staleness(h.ops, h.commits, BOUND_0)
    assert res.ok
    assert res.measurements["reads"] == 0


def test_async_delete_is_credited_from_its_invocation() -> None:
    """Write-behind acknowledges (and serves) a delete before its tombstone commits: a read of
    None between the two is not stale."""
    from cachecheck._contract import Contract, Durability
    from cachecheck._history import Commit, Op, OpKind, Outcome
    from cachecheck.checkers import check_staleness

    ops = [
        Op(0, "c0", OpKind.WRITE, "k", "v1", 0.000, 0.004, Outcome.OK),
        Op(1, "c1", OpKind.DELETE, "k", None, 0.005, 0.007, Outcome.OK),
        Op(2, "c2", OpKind.READ, "k", None, 0.008, 0.009, Outcome.OK),
    ]
    commits = [Commit("k", 1, "v1", 0.0065), Commit("k", 2, None, 0.010)]
    contract = Contract(staleness_bound=0.0, durability=Durability.ASYNC)
    result = check_staleness(ops, commits, contract)
    assert result.ok, [f.message for f in result.findings]
    # Without the delete op, the same None read is stale: v1 was committed before it.
    assert not check_staleness([ops[0], ops[2]], commits[:1], contract).ok
