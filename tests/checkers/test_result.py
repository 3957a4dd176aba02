"""CheckResult and Finding: JSON-ready, capped, skippable."""

from __future__ import annotations

import json

from cachecheck._contract import Contract, TtlPolicy
from cachecheck.checkers import MAX_FINDINGS, CheckResult, Finding, check_ttl_hygiene
from cachecheck.checkers._result import jsonable

from .histories import H


def test_finding_to_dict_is_json_ready() -> None:
    h = H()
    w = h.write("c1", "k", "v1", 0, 2)
    f = Finding("x", "p", "k", "msg", (w,), tuple(h.commits), {"inf": float("inf")})
    d = f.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["ops"][0] == {
        "index": 0,
        "client": "c1",
        "kind": "write",
        "key": "k",
        "value": "v1",
        "invoked_at": 0.0,
        "completed_at": 0.002,
        "outcome": "ok",
        "error": None,
    }
    assert d["commits"][0]["version"] == 1
    assert d["details"]["inf"] == "inf"


def test_ok_and_skipped() -> None:
    assert CheckResult("x", True).ok
    assert not CheckResult("x", True, (Finding("x", "p", None, "m"),)).ok
    res = check_ttl_hygiene({"a": -1}, Contract())
    assert res.to_dict()["skipped_reason"] == "the contract promises no TTL policy"
    assert res.to_dict()["checked"] is False


def test_findings_are_capped_but_counted() -> None:
    ttls = {f"k{i:04}": -1 for i in range(MAX_FINDINGS + 50)}
    res = check_ttl_hygiene(ttls, Contract(ttl=TtlPolicy(max_seconds=1)))
    assert len(res.findings) == MAX_FINDINGS
    assert res.measurements["violations"] == MAX_FINDINGS + 50
    assert res.findings[0].key == "k0000"


def test_jsonable_converts_tuples_and_non_finite_floats() -> None:
    assert jsonable({"a": (1, float("-inf")), 2: [float("nan")]}) == {
        "a": [1, "-inf"],
        "2": ["nan"],
    }
