"""Hand-written histories for check_read_your_writes."""

from __future__ import annotations

from cachecheck._contract import Contract
from cachecheck._history import Outcome
from cachecheck.checkers import check_read_your_writes

from .histories import H

RYW = Contract(read_your_writes=True)


def test_empty_history_passes() -> None:
    res = check_read_your_writes([], [], RYW)
    assert res.checked
    assert res.ok


def test_own_write_then_read_passes() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.read("c1", "k", "v1", 3, 4)
    res = check_read_your_writes(h.ops, h.commits, RYW)
    assert res.ok
    assert res.measurements["reads_after_own_write"] == 1


def test_older_value_after_own_write_is_a_finding() -> None:
    h = H()
    h.write("c2", "k", "v1", 0, 2)
    w = h.write("c1", "k", "v2", 10, 12)
    r = h.read("c1", "k", "v1", 13, 14)
    res = check_read_your_writes(h.ops, h.commits, RYW)
    (f,) = res.findings
    assert f.key == "k"
    assert f.ops == (w, r)
    assert [c.value for c in f.commits] == ["v2", "v1"]
    for text in ("c1", "'v2'", "'v1'", "version 2", "12.00 ms", "13.00 ms"):
        assert text in f.message


def test_other_clients_newer_value_is_fine() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c2", "k", "v2", 3, 4)
    h.read("c1", "k", "v2", 5, 6)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok


def test_other_clients_stale_read_is_not_read_your_writes() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 3, 4)
    h.read("c2", "k", "v1", 5, 6)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok


def test_read_overlapping_own_write_is_not_judged() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 20)
    h.read("c1", "k", "v1", 15, 16)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok


def test_delete_then_none_or_newer_passes_and_older_fails() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    d = h.delete("c1", "k", 10, 12)
    h.read("c1", "k", None, 13, 14)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok
    r = h.read("c1", "k", "v1", 15, 16)
    (f,) = check_read_your_writes(h.ops, h.commits, RYW).findings
    assert f.ops == (d, r)
    assert "deleted it" in f.message
    h.write("c2", "k", "v3", 17, 18)
    h.read("c1", "k", "v3", 19, 20)
    assert len(check_read_your_writes(h.ops, h.commits, RYW).findings) == 1


def test_none_after_own_write_needs_a_later_delete() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    r = h.read("c1", "k", None, 3, 4)
    (f,) = check_read_your_writes(h.ops, h.commits, RYW).findings
    assert f.ops[1] is r
    assert "returned absent" in f.message

    h2 = H()
    h2.write("c1", "k", "v1", 0, 2)
    h2.delete("c2", "k", 3, 4)
    h2.read("c1", "k", None, 5, 6)
    assert check_read_your_writes(h2.ops, h2.commits, RYW).ok


def test_failed_and_indeterminate_writes_do_not_bind() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 3, 4, commit=None, outcome=Outcome.FAIL)
    h.write("c1", "k", "v3", 5, 6, commit=None, outcome=Outcome.INFO)
    h.read("c1", "k", "v1", 7, 8)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok


def test_write_behind_own_value_before_commit() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 1)
    h.write("c1", "k", "v2", 2, 3, commit=50)  # acknowledged, committed later
    h.read("c1", "k", "v2", 4, 5)
    assert check_read_your_writes(h.ops, h.commits, RYW).ok
    h.read("c1", "k", "v1", 6, 7)
    assert len(check_read_your_writes(h.ops, h.commits, RYW).findings) == 1


def test_not_promised_is_skipped() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.write("c1", "k", "v2", 10, 12)
    h.read("c1", "k", "v1", 13, 14)
    res = check_read_your_writes(h.ops, h.commits, Contract())
    assert not res.checked
    assert res.ok
