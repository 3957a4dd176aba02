"""Hand-written lock tenures for check_mutual_exclusion."""

from __future__ import annotations

from cachecheck.checkers import LockHold, LockRelease, check_mutual_exclusion


def test_no_holds_passes() -> None:
    res = check_mutual_exclusion([])
    assert res.checked
    assert res.ok


def test_sequential_holds_pass() -> None:
    holds = [
        LockHold("r", "a", 0.0, 1.0, 5.0, 1),
        LockHold("r", "b", 1.0, None, 3.0, 2),
        LockHold("r", "c", 3.0, 3.5, 8.0, 3),
        LockHold("s", "d", 0.5, 2.0, 5.0, 1),
    ]
    res = check_mutual_exclusion(holds)
    assert res.ok
    assert res.measurements["resources"] == 2


def test_overlapping_holders_are_a_finding() -> None:
    holds = [LockHold("r", "a", 0.0, None, 5.0), LockHold("r", "b", 4.0, 6.0, 9.0)]
    res = check_mutual_exclusion(holds)
    (f,) = res.findings
    assert f.property == "mutual_exclusion"
    assert f.key == "r"
    assert f.details["holders"] == ["a", "b"]
    assert "1000.00 ms" in f.message
    assert res.measurements["max_overlap_s"] == 1.0


def test_lease_expiry_ends_a_hold_even_without_release() -> None:
    holds = [LockHold("r", "a", 0.0, 7.0, 5.0), LockHold("r", "b", 5.0, 6.0, 9.0)]
    assert check_mutual_exclusion(holds).ok


def test_long_hold_overlapping_a_later_one_is_found() -> None:
    holds = [
        LockHold("r", "a", 0.0, None, 100.0),
        LockHold("r", "b", 1.0, 2.0, 9.0),
        LockHold("r", "c", 3.0, 4.0, 9.0),
    ]
    res = check_mutual_exclusion(holds)
    assert [f.details["holders"] for f in res.findings] == [["a", "b"], ["a", "c"]]


def test_fencing_tokens_must_strictly_increase() -> None:
    holds = [
        LockHold("r", "a", 0.0, 1.0, 5.0, 7),
        LockHold("r", "b", 2.0, 3.0, 5.0, 7),
        LockHold("r", "c", 4.0, 5.0, 9.0, None),
        LockHold("r", "d", 6.0, 7.0, 9.0, 6),
    ]
    res = check_mutual_exclusion(holds)
    assert [f.details["tokens"] for f in res.findings] == [[7, 7], [7, 6]]
    assert res.measurements["token_regressions"] == 2


def test_release_deleting_another_holders_lock_is_a_finding() -> None:
    releases = [
        LockRelease("r", "a", 1.0, "a"),
        LockRelease("r", "a", 9.0, "b"),
        LockRelease("r", "c", 9.5, None),
    ]
    res = check_mutual_exclusion([LockHold("r", "a", 0.0, 9.0, 5.0)], releases)
    (f,) = res.findings
    assert f.property == "owner_only_release"
    assert "owned by b" in f.message
    assert res.measurements["foreign_releases"] == 1
