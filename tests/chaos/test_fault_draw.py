"""The Hypothesis strategies draw valid faults and schedules, and shrink to mild ones."""

from __future__ import annotations

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from cachecheck.chaos import (
    NETWORK_KINDS,
    PROCESS_KINDS,
    Direction,
    Fault,
    FaultSchedule,
    Latency,
    fault_schedules,
    faults,
)


@settings(max_examples=100)
@given(fault=faults(kinds=NETWORK_KINDS + PROCESS_KINDS, vary_toxicity=True))
def test_every_drawn_fault_is_valid(fault: Fault) -> None:
    assert fault.kind in NETWORK_KINDS + PROCESS_KINDS
    for spec in fault.toxics():
        assert spec.stream in ("upstream", "downstream")
        assert all(isinstance(v, int) and v >= 0 for v in spec.attributes.values())
        assert spec.toxicity in (0.0, 0.5, 1.0)


@settings(max_examples=100)
@given(schedule=fault_schedules(max_faults=4, max_gap_ms=50, min_duration_ms=10))
def test_schedules_are_in_order_and_never_overlap(schedule: FaultSchedule) -> None:
    assert len(schedule) <= 4
    ends = 0
    for entry in schedule:
        assert entry.start_ms >= ends and entry.duration_ms >= 10
        ends = entry.end_ms
    assert schedule.duration_ms == ends


#: For `find`: no example database, no (slow) explain phase.
QUICK = settings(database=None, phases=(Phase.generate, Phase.shrink))


def test_schedules_shrink_to_few_short_mild_faults() -> None:
    """The minimal schedule of two faults is two instant zero-latency faults (the mildest
    kind is listed first)."""
    smallest = find(fault_schedules(), lambda schedule: len(schedule) >= 2, settings=QUICK)
    assert [(e.start_ms, e.duration_ms, e.fault) for e in smallest] == [
        (0, 0, Latency(0)),
        (0, 0, Latency(0)),
    ]


def test_kinds_and_directions_restrict_the_draw() -> None:
    drawn = find(faults(kinds=["timeout"], directions=[Direction.UPSTREAM]), lambda f: True)
    assert [s.stream for s in drawn.toxics()] == ["upstream"] and drawn.kind == "timeout"


@pytest.mark.parametrize(
    "call",
    [
        lambda: faults(kinds=["nope"]),
        lambda: faults(kinds=[]),
        lambda: faults(max_ms=-1),
        lambda: faults(directions=[]),
        lambda: fault_schedules(max_faults=-1),
        lambda: fault_schedules(min_duration_ms=5, max_duration_ms=1),
    ],
)
def test_bad_arguments_are_invalid(call: object) -> None:
    with pytest.raises(InvalidArgument):
        call()  # type: ignore[operator]


def test_schedules_accept_a_custom_fault_strategy() -> None:
    schedule = find(
        fault_schedules(faults=st.just(Latency(7)), max_faults=1),
        lambda s: len(s) == 1,
        settings=QUICK,
    )
    assert schedule.entries[0].fault == Latency(7)
