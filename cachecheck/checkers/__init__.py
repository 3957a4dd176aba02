"""Checkers: pure functions from a recorded history (ops, commit log, events, snapshots) and a
contract to a `CheckResult` of findings and measurements. No I/O.

Each finding carries the minimal set of ops and commits that proves it; messages give times in
milliseconds relative to the history's first invocation. Histories rely on unique written
values: a read's value names the commit it saw.
"""

from __future__ import annotations

from cachecheck.checkers._all import check_history
from cachecheck.checkers._convergence import check_convergence
from cachecheck.checkers._durability import CRASH_EVENTS, check_durability
from cachecheck.checkers._locks import LockHold, LockRelease, check_mutual_exclusion
from cachecheck.checkers._phantom import check_no_phantom_reads
from cachecheck.checkers._result import MAX_FINDINGS, CheckResult, Finding
from cachecheck.checkers._ryw import check_read_your_writes
from cachecheck.checkers._single_flight import Load, LoadRecord, check_single_flight
from cachecheck.checkers._staleness import check_staleness
from cachecheck.checkers._ttl import check_ttl_hygiene

__all__ = [
    "CRASH_EVENTS",
    "MAX_FINDINGS",
    "CheckResult",
    "Finding",
    "Load",
    "LoadRecord",
    "LockHold",
    "LockRelease",
    "check_convergence",
    "check_durability",
    "check_history",
    "check_mutual_exclusion",
    "check_no_phantom_reads",
    "check_read_your_writes",
    "check_single_flight",
    "check_staleness",
    "check_ttl_hygiene",
]
