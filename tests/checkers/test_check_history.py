"""check_history runs every applicable checker on one history."""

from __future__ import annotations

import json

from cachecheck._contract import Contract, TtlPolicy
from cachecheck.checkers import Load, LockHold, check_history

from .histories import H

EVERYTHING = Contract(
    staleness_bound=0.0, read_your_writes=True, single_flight=True, ttl=TtlPolicy(10)
)


def _history() -> H:
    h = H()
    h.write("c1", "k", "v1", 0, 2)
    h.read("c1", "k", "v1", 3, 4)
    h.read("c2", "k", "v1", 5, 6)
    return h


def test_all_checkers_run_and_pass() -> None:
    h = _history()
    results = check_history(
        h.ops,
        h.commits,
        h.events,
        EVERYTHING,
        final_cache={"k": "v1"},
        final_db={"k": "v1"},
        loads=[Load("k", 0.003, "c1")],
        ttls={"k": 9_000},
        holds=[LockHold("k", "c1", 0.0, 0.001, 1.0, 1)],
    )
    assert [r.checker for r in results] == [
        "no_phantom_reads",
        "staleness",
        "read_your_writes",
        "durability",
        "convergence",
        "single_flight",
        "ttl_hygiene",
        "mutual_exclusion",
    ]
    assert all(r.checked and r.ok for r in results), [r for r in results if not r.ok]
    json.dumps([r.to_dict() for r in results], allow_nan=False)


def test_unpromised_or_missing_inputs_are_skipped_with_reasons() -> None:
    h = _history()
    results = {r.checker: r for r in check_history(h.ops, h.commits, h.events, Contract())}
    skipped = {name for name, r in results.items() if not r.checked}
    assert skipped == {
        "staleness",
        "read_your_writes",
        "convergence",
        "single_flight",
        "ttl_hygiene",
        "mutual_exclusion",
    }
    assert all(results[name].skipped_reason for name in skipped)


def test_messages_share_one_time_origin() -> None:
    h = H()
    h.read("c0", "j", None, 100, 101)
    h.write("c1", "k", "v1", 200, 202)
    h.write("c1", "k", "v2", 210, 212)
    h.read("c2", "k", "v1", 220, 221)
    results = check_history(
        h.ops, h.commits, h.events, EVERYTHING, final_cache={"k": "v1"}, final_db={"k": "v2"}
    )
    by_name = {r.checker: r for r in results}
    assert "120.00 ms" in by_name["staleness"].findings[0].message
    assert "111.00 ms" in by_name["convergence"].findings[0].message
