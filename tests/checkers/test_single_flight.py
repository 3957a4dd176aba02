"""Hand-written load logs for check_single_flight."""

from __future__ import annotations

import cachecheck
from cachecheck._contract import Contract
from cachecheck.checkers import Load, check_single_flight

from .histories import H

SF = Contract(single_flight=True)


def test_no_loads_passes() -> None:
    res = check_single_flight([], [], SF)
    assert res.checked
    assert res.ok
    assert res.measurements["episodes"] == 0


def test_two_loads_in_one_episode_is_a_stampede() -> None:
    loads = [Load("k", 0.010, "c1"), Load("k", 0.011, "c2"), Load("j", 0.011, "c3")]
    res = check_single_flight(loads, [], SF)
    (f,) = res.findings
    assert f.key == "k"
    assert f.details["loads"] == 2
    assert "2 database loads" in f.message
    assert "c1" in f.message
    assert "c2" in f.message
    assert res.measurements["max_loads_per_episode"] == 2
    assert res.measurements["episodes"] == 2
    assert res.measurements["mean_loads_per_episode"] == 1.5


def test_write_between_loads_starts_a_new_episode() -> None:
    h = H()
    h.write("c1", "k", "v1", 20, 22)
    loads = [Load("k", 0.010), Load("k", 0.030)]
    res = check_single_flight(loads, h.ops, SF)
    assert res.ok
    assert res.measurements["episodes"] == 2


def test_load_while_the_invalidating_write_is_in_flight() -> None:
    h = H()
    h.write("c1", "k", "v1", 20, 30)  # deletes the cache entry somewhere in [20, 30]
    loads = [Load("k", 0.010), Load("k", 0.025)]
    assert check_single_flight(loads, h.ops, SF).ok


def test_write_before_both_loads_does_not_separate_them() -> None:
    h = H()
    h.write("c1", "k", "v1", 0, 5)
    loads = [Load("k", 0.010), Load("k", 0.025)]
    assert not check_single_flight(loads, h.ops, SF).ok


def test_expiry_event_starts_a_new_episode() -> None:
    h = H()
    h.event("expire", 20, key="k")
    h.event("expire", 20, key="other")
    loads = [Load("k", 0.010), Load("k", 0.030), Load("k", 0.031)]
    res = check_single_flight(loads, [], SF, events=h.events)
    (f,) = res.findings
    assert f.details["loads"] == 2
    assert res.measurements["episodes"] == 2


def test_database_load_records_are_accepted() -> None:
    loads = [cachecheck.Load("k", 0.0, "c1"), cachecheck.Load("k", 0.001, "c2")]
    assert len(check_single_flight(loads, [], SF).findings) == 1


def test_not_promised_is_skipped_but_measured() -> None:
    loads = [Load("k", 0.010), Load("k", 0.011)]
    res = check_single_flight(loads, [], Contract())
    assert not res.checked
    assert res.ok
    assert res.measurements["max_loads_per_episode"] == 2


def test_background_refresh_loads_start_a_new_episode() -> None:
    """A refresh-ahead worker reloads a key before it expires (client name 'refresh…'): that
    is not a second miss load, but the miss after it is a new episode."""
    from cachecheck._contract import Contract
    from cachecheck.checkers import Load, check_single_flight

    contract = Contract(single_flight=True)
    loads = [Load("k", 0.010, "c0"), Load("k", 0.020, "refresh:lease-1"), Load("k", 0.030, "c1")]
    assert check_single_flight(loads, [], contract).ok
    stampede = [Load("k", 0.010, "c0"), Load("k", 0.030, "c1")]
    assert not check_single_flight(stampede, [], contract).ok
