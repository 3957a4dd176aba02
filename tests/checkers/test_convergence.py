"""Hand-written snapshots for check_convergence."""

from __future__ import annotations

from cachecheck._contract import Contract
from cachecheck.checkers import check_convergence

from .histories import H


def test_equal_or_absent_entries_converge() -> None:
    res = check_convergence({"a": "1", "b": None}, {"a": "1", "b": "2", "c": "3"}, Contract())
    assert res.checked
    assert res.ok
    assert res.measurements["keys_in_cache"] == 1
    assert res.measurements["keys_in_db"] == 3


def test_empty_snapshots_converge() -> None:
    assert check_convergence({}, {}, Contract()).ok


def test_stale_entry_names_key_values_write_and_newer_commit() -> None:
    h = H()
    w1 = h.write("c1", "k", "v1", 0, 2)
    h.write("c2", "k", "v2", 10, 12)
    res = check_convergence({"k": "v1"}, {"k": "v2"}, Contract(), ops=h.ops, commits=h.commits)
    (f,) = res.findings
    assert f.key == "k"
    assert f.ops == (w1,)
    assert [c.version for c in f.commits] == [1, 2]
    for text in ("'k'", "'v1'", "'v2'", "c1", "version 1", "version 2", "11.00 ms"):
        assert text in f.message
    assert f.details == {
        "cached_value": "v1",
        "db_value": "v2",
        "cached_version": 1,
        "db_version": 2,
    }


def test_cached_value_for_deleted_key_is_stale() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.delete("c1", "k", 10, 12)
    (f,) = check_convergence(
        {"k": "v1"}, {"k": None}, Contract(), ops=h.ops, commits=h.commits
    ).findings
    assert "absent" in f.message


def test_without_ops_the_finding_still_names_values() -> None:
    (f,) = check_convergence({"k": "x"}, {}, Contract()).findings
    assert f.ops == ()
    assert "'x'" in f.message


def test_not_promised_is_skipped() -> None:
    res = check_convergence({"k": "x"}, {"k": "y"}, Contract(converges=False))
    assert not res.checked
    assert res.ok
