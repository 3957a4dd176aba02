"""Hand-written histories for check_no_phantom_reads."""

from __future__ import annotations

from cachecheck._contract import Contract
from cachecheck._history import Outcome
from cachecheck.checkers import check_no_phantom_reads

from .histories import H


def test_empty_history_passes() -> None:
    res = check_no_phantom_reads([], [], Contract())
    assert res.checked
    assert res.ok
    assert res.measurements["reads_checked"] == 0


def test_reads_of_ok_info_and_committed_values_pass() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 3, 5, commit=None, outcome=Outcome.INFO)
    h.commit("k", "v3", 6)  # committed by a process the history does not record
    h.read("c2", "k", "v1", 3, 4)
    h.read("c2", "k", "v2", 6, 7)
    h.read("c2", "k", "v3", 8, 9)
    h.read("c2", "k", None, 10, 11)
    res = check_no_phantom_reads(h.ops, h.commits, Contract())
    assert res.ok
    assert res.measurements["reads_checked"] == 3


def test_value_never_written_is_a_phantom() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    r = h.read("c2", "k", "garbage", 3, 4)
    res = check_no_phantom_reads(h.ops, h.commits, Contract())
    (f,) = res.findings
    assert f.property == "no_phantom_reads"
    assert f.key == "k"
    assert f.ops == (r,)
    assert "'garbage'" in f.message
    assert "3.00 ms" in f.message
    assert res.measurements["phantom_reads"] == 1


def test_value_of_a_failed_write_must_not_be_read() -> None:
    h = H()
    w = h.write("c1", "k", "v1", 0, 2, commit=None, outcome=Outcome.FAIL)
    r = h.read("c2", "k", "v1", 3, 4)
    (f,) = check_no_phantom_reads(h.ops, h.commits, Contract()).findings
    assert f.property == "no_aborted_reads"
    assert f.ops == (r, w)
    assert "FAILED" in f.message


def test_value_written_to_another_key() -> None:
    h = H()
    w = h.write("c1", "a", "v1", 0, 2)
    r = h.read("c2", "b", "v1", 3, 4)
    (f,) = check_no_phantom_reads(h.ops, h.commits, Contract()).findings
    assert f.property == "no_cross_key_reads"
    assert f.key == "b"
    assert f.ops == (r, w)
    assert "'a'" in f.message


def test_failed_reads_are_not_judged() -> None:
    h = H()
    h.read("c2", "k", "garbage", 3, 4, outcome=Outcome.FAIL)
    assert check_no_phantom_reads(h.ops, h.commits, Contract()).ok


def test_not_promised_is_skipped() -> None:
    h = H()
    h.read("c2", "k", "garbage", 3, 4)
    res = check_no_phantom_reads(h.ops, h.commits, Contract(no_phantom_reads=False))
    assert not res.checked
    assert res.ok
    assert res.skipped_reason
