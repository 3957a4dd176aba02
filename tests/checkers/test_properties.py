"""Property tests: a sequential, correct execution passes every checker; a mutated one fails.

The execution is a cache-aside model applied op by op with strictly increasing times: reads
return the model's value (loading on a miss), writes and deletes commit at their midpoint and
invalidate, expiries drop the entry. All choices come from Hypothesis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from cachecheck._contract import Contract, TtlPolicy
from cachecheck._history import OpKind
from cachecheck.checkers import Load, LockHold, check_convergence, check_history, check_staleness

from .histories import H

CONTRACT = Contract(
    staleness_bound=0.0,
    read_your_writes=True,
    single_flight=True,
    ttl=TtlPolicy(max_seconds=10),
)

Step = tuple[str, str, str, int, int, int]

steps = st.lists(
    st.tuples(
        st.sampled_from(["read", "read", "write", "delete", "expire"]),
        st.sampled_from(["c0", "c1", "c2"]),
        st.sampled_from(["k0", "k1", "k2"]),
        st.integers(1, 20),  # gap before the op, ms
        st.integers(1, 10),  # duration, ms
        st.integers(1, 10_000),  # PTTL the entry would report, ms
    ),
    max_size=40,
)


@dataclass
class Run:
    h: H = field(default_factory=H)
    loads: list[Load] = field(default_factory=list)
    holds: list[LockHold] = field(default_factory=list)
    final_cache: dict[str, str | None] = field(default_factory=dict)
    final_db: dict[str, str | None] = field(default_factory=dict)
    ttls: dict[str, int] = field(default_factory=dict)


def execute(plan: list[Step]) -> Run:
    run = Run()
    cache: dict[str, str | None] = {}
    t = 0.0
    for n, (kind, client, key, gap, dur, pttl) in enumerate(plan):
        start, end = t + gap, t + gap + dur
        t = end
        if kind == "read":
            if key not in cache:
                run.loads.append(Load(key, (start + end) / 2000, client))
                cache[key] = run.final_db.get(key)
                run.ttls[key] = pttl
            run.h.read(client, key, cache[key], start, end)
        elif kind == "expire":
            run.h.event("expire", start, key=key)
            cache.pop(key, None)
        else:
            value = f"v{n}" if kind == "write" else None
            if value is None:
                run.h.delete(client, key, start, end)
            else:
                run.h.write(client, key, value, start, end)
            run.final_db[key] = value
            cache.pop(key, None)
            run.holds.append(LockHold("lock", client, start / 1000, end / 1000, 1.0, n))
    run.final_cache = {k: v for k, v in cache.items() if v is not None}
    return run


@settings(max_examples=60, deadline=None)
@given(steps)
def test_a_correct_sequential_execution_passes_every_checker(plan: list[Step]) -> None:
    run = execute(plan)
    results = check_history(
        run.h.ops,
        run.h.commits,
        run.h.events,
        CONTRACT,
        final_cache=run.final_cache,
        final_db=run.final_db,
        loads=run.loads,
        ttls={k: run.ttls[k] for k in run.final_cache},
        holds=run.holds,
    )
    for res in results:
        assert res.checked, res
        assert res.ok, [f.message for f in res.findings]
    staleness = next(r for r in results if r.checker == "staleness")
    assert staleness.measurements["stale_reads"] == 0
    assert staleness.measurements["nines_consistent"] in ("all", None)


@settings(max_examples=60, deadline=None)
@given(steps, st.data())
def test_a_read_returning_an_older_version_fails_staleness(
    plan: list[Step], data: st.DataObject
) -> None:
    # The tail guarantees at least one read with an older version to fall back to.
    run = execute([*plan, ("write", "c0", "k0", 1, 1, 1), ("read", "c1", "k0", 1, 1, 1)])
    candidates = []
    for op in run.h.ops:
        if op.kind is OpKind.READ:
            values = [None, *(c.value for c in run.h.commits if c.key == op.key)]
            seen = sum(c.committed_at <= op.invoked_at for c in run.h.commits if c.key == op.key)
            if seen >= 1 and values[seen - 1] != op.value:
                candidates.append((op, values[seen - 1]))
    read, older = data.draw(st.sampled_from(candidates))
    ops = [dataclasses.replace(op, value=older) if op is read else op for op in run.h.ops]
    res = check_staleness(ops, run.h.commits, CONTRACT)
    assert not res.ok
    assert [f.ops[0].index for f in res.findings] == [read.index]
    assert res.findings[0].key == read.key
    assert res.measurements["nines_consistent"] != "all"


@settings(max_examples=40, deadline=None)
@given(steps, st.data())
def test_a_cache_left_holding_an_older_value_fails_convergence(
    plan: list[Step], data: st.DataObject
) -> None:
    run = execute([*plan, ("write", "c0", "k0", 1, 1, 1), ("write", "c0", "k0", 1, 1, 1)])
    older = data.draw(
        st.sampled_from([c.value for c in run.h.commits if c.key == "k0" and c.value][:-1])
    )
    cache = {**run.final_cache, "k0": older}
    res = check_convergence(cache, run.final_db, CONTRACT, ops=run.h.ops, commits=run.h.commits)
    (f,) = res.findings
    assert f.key == "k0"
    assert f.details["cached_value"] == older
