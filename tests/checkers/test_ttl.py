"""Hand-written PTTL snapshots for check_ttl_hygiene."""

from __future__ import annotations

from cachecheck._contract import Contract, TtlPolicy
from cachecheck.checkers import check_ttl_hygiene

TTL_10S = Contract(ttl=TtlPolicy(max_seconds=10, exempt=("queue:*",)))


def test_bounded_ttls_pass_and_are_measured() -> None:
    res = check_ttl_hygiene({"a": 9_000, "b": 10_000, "c": 0, "d": -2}, TTL_10S)
    assert res.checked
    assert res.ok
    m = res.measurements
    assert (m["keys_checked"], m["keys_gone"]) == (3, 1)
    assert (m["min_ttl_ms"], m["max_ttl_ms"], m["spread_ms"]) == (0, 10_000, 10_000)


def test_key_without_ttl_is_a_finding() -> None:
    res = check_ttl_hygiene({"a": 5_000, "b": -1}, TTL_10S)
    (f,) = res.findings
    assert f.key == "b"
    assert "no TTL" in f.message
    assert res.measurements["keys_without_ttl"] == 1


def test_ttl_over_max_is_a_finding_beyond_tolerance() -> None:
    assert check_ttl_hygiene({"a": 10_002}, TTL_10S).ok
    (f,) = check_ttl_hygiene({"a": 10_003}, TTL_10S).findings
    assert "10003 ms" in f.message
    assert check_ttl_hygiene({"a": 10_003}, TTL_10S, tolerance_ms=5).ok


def test_exempt_keys_are_skipped() -> None:
    res = check_ttl_hygiene({"queue:writes": -1, "Queue:x": -1}, TTL_10S)
    assert [f.key for f in res.findings] == ["Queue:x"]  # globs are case-sensitive
    assert res.measurements["keys_exempt"] == 1


def test_empty_snapshot_passes() -> None:
    res = check_ttl_hygiene({}, TTL_10S)
    assert res.ok
    assert res.measurements["min_ttl_ms"] is None


def test_no_policy_is_skipped() -> None:
    res = check_ttl_hygiene({"a": -1}, Contract())
    assert not res.checked
    assert res.ok
