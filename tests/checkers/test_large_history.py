"""A 100k-op history is checked correctly (counts and findings); its speed is measured in
benchmarks/bench_checkers.py, not asserted here."""

from __future__ import annotations

from cachecheck._contract import Contract, Durability
from cachecheck._history import Commit, Op, OpKind, Outcome
from cachecheck.checkers import (
    check_durability,
    check_no_phantom_reads,
    check_read_your_writes,
    check_staleness,
)


def synthetic(n_ops: int, n_keys: int = 1_000) -> tuple[list[Op], list[Commit]]:
    """Round-robin over keys: a write every 4th op, reads otherwise, some of them stale.

    Deterministic (no randomness): op i touches key i % n_keys; every 7th read returns the
    previous version of its key, so stale reads and findings are exercised too.
    """
    ops: list[Op] = []
    commits: list[Commit] = []
    history: dict[str, list[str | None]] = {}
    for i in range(n_ops):
        key = f"k{i % n_keys}"
        t = i * 1e-4
        versions = history.setdefault(key, [None])
        if (i // n_keys) % 4 == 0:
            value = f"v{i}"
            ops.append(Op(i, f"c{i % 8}", OpKind.WRITE, key, value, t, t + 5e-5, Outcome.OK))
            commits.append(Commit(key, len(versions), value, t + 2e-5))
            versions.append(value)
        else:
            seen = versions[-2] if i % 7 == 0 and len(versions) > 1 else versions[-1]
            ops.append(Op(i, f"c{i % 8}", OpKind.READ, key, seen, t, t + 5e-5, Outcome.OK))
    return ops, commits


def test_100k_ops_are_all_checked() -> None:
    ops, commits = synthetic(100_000)
    contract = Contract(staleness_bound=0.01, read_your_writes=True)
    res = check_staleness(ops, commits, contract)
    check_no_phantom_reads(ops, commits, contract)
    check_read_your_writes(ops, commits, contract)
    check_durability(ops, commits, [], Contract(durability=Durability.SYNC))
    assert res.measurements["reads"] == 75_000
    assert res.measurements["stale_reads"] > 0
    assert not res.ok
