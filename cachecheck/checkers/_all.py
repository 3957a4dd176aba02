"""Run every checker that applies to one history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cachecheck._contract import Contract
from cachecheck._history import Commit, Event, Op
from cachecheck.checkers._convergence import CHECKER as CONVERGENCE
from cachecheck.checkers._convergence import check_convergence
from cachecheck.checkers._durability import check_durability
from cachecheck.checkers._locks import CHECKER as MUTUAL_EXCLUSION
from cachecheck.checkers._locks import LockHold, LockRelease, check_mutual_exclusion
from cachecheck.checkers._phantom import check_no_phantom_reads
from cachecheck.checkers._result import CheckResult, skipped
from cachecheck.checkers._ryw import check_read_your_writes
from cachecheck.checkers._single_flight import CHECKER as SINGLE_FLIGHT
from cachecheck.checkers._single_flight import LoadRecord, check_single_flight
from cachecheck.checkers._staleness import check_staleness
from cachecheck.checkers._timeline import origin_of
from cachecheck.checkers._ttl import CHECKER as TTL_HYGIENE
from cachecheck.checkers._ttl import check_ttl_hygiene


def check_history(
    ops: Sequence[Op],
    commits: Sequence[Commit],
    events: Sequence[Event],
    contract: Contract,
    *,
    final_cache: Mapping[str, str | None] | None = None,
    final_db: Mapping[str, str | None] | None = None,
    loads: Sequence[LoadRecord] | None = None,
    ttls: Mapping[str, int] | None = None,
    holds: Sequence[LockHold] | None = None,
    releases: Sequence[LockRelease] = (),
) -> list[CheckResult]:
    """Run every checker, in a fixed order, all with times relative to the same origin.

    A property the contract does not promise comes back with `checked=False` and a reason (its
    measurements are still computed where the data allows); so does a checker whose input was
    not given (no final snapshot, no load log, no TTL snapshot, no lock holds).
    """
    origin = origin_of(ops, commits)
    results = [
        check_no_phantom_reads(ops, commits, contract, origin=origin),
        check_staleness(ops, commits, contract, origin=origin),
        check_read_your_writes(ops, commits, contract, origin=origin),
        check_durability(ops, commits, events, contract, origin=origin),
    ]
    if final_cache is None or final_db is None:
        results.append(skipped(CONVERGENCE, "no final cache and database snapshot was given"))
    else:
        results.append(
            check_convergence(
                final_cache, final_db, contract, ops=ops, commits=commits, origin=origin
            )
        )
    if loads is None:
        results.append(skipped(SINGLE_FLIGHT, "no database load log was given"))
    else:
        results.append(check_single_flight(loads, ops, contract, events=events, origin=origin))
    if ttls is None:
        results.append(skipped(TTL_HYGIENE, "no TTL snapshot was given"))
    else:
        results.append(check_ttl_hygiene(ttls, contract))
    if holds is None:
        results.append(skipped(MUTUAL_EXCLUSION, "no lock holds were recorded"))
    else:
        results.append(check_mutual_exclusion(holds, releases, origin=origin))
    return results
