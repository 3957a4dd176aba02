"""Benchmark of the checkers on a 100k-op synthetic history (near-linear or bust).

Run: `python -m pytest benchmarks/bench_checkers.py --benchmark-only -p no:valkey`
The baseline in the same run is one pass that only partitions the ops by key, so the ratio
says how much the checking itself costs over touching every op once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cachecheck._contract import Contract, Durability
from cachecheck._history import Commit, Op, OpKind, Outcome
from cachecheck.checkers import (
    check_durability,
    check_no_phantom_reads,
    check_read_your_writes,
    check_staleness,
)


def synthetic(n_ops: int, n_keys: int = 1_000) -> tuple[list[Op], list[Commit]]:
    """Deterministic: op i touches key i % n_keys; a write every 4th round over the keys,
    reads otherwise; every 7th read returns the previous version (stale)."""
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


OPS, COMMITS = synthetic(100_000)
CONTRACT = Contract(staleness_bound=0.01, read_your_writes=True)


def test_baseline_partition_by_key(benchmark: Any) -> None:
    def partition() -> int:
        grouped: dict[str, list[Op]] = defaultdict(list)
        for op in OPS:
            grouped[op.key].append(op)
        return len(grouped)

    assert benchmark(partition) == 1_000


def test_staleness_100k(benchmark: Any) -> None:
    result = benchmark(check_staleness, OPS, COMMITS, CONTRACT)
    assert result.measurements["stale_reads"] > 0


def test_phantom_ryw_durability_100k(benchmark: Any) -> None:
    def others() -> None:
        check_no_phantom_reads(OPS, COMMITS, CONTRACT)
        check_read_your_writes(OPS, COMMITS, CONTRACT)
        check_durability(OPS, COMMITS, [], Contract(durability=Durability.SYNC))

    benchmark(others)
