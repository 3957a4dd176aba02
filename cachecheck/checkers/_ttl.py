"""TTL hygiene (P7): every cache key expires, and no later than the promised maximum."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from cachecheck._contract import Contract
from cachecheck.checkers._result import CheckResult, Finding, result, skipped

CHECKER = "ttl_hygiene"
#: Redis's PTTL for a key that has no TTL, and for a key that does not exist.
NO_TTL = -1
GONE = -2


def check_ttl_hygiene(
    ttls: Mapping[str, int],
    contract: Contract,
    *,
    tolerance_ms: int = 2,
) -> CheckResult:
    """Given a snapshot key -> PTTL (ms, as Redis reports it), every key not matching one of
    `contract.ttl.exempt` (fnmatch globs, case-sensitive like Redis) has
    0 <= PTTL <= max_seconds * 1000 + `tolerance_ms`. PTTL -1 (no TTL) is the classic bug;
    -2 (the key vanished before its PTTL was read) is skipped. 0 is allowed: Redis reports 0
    for a key whose TTL elapsed but which is not yet reclaimed.

    A snapshot cannot check `min_seconds` (PTTL only decreases), nor jitter (keys were written
    at different times); it reports min/max/mean PTTL and their spread for those judgements.
    """
    policy = contract.ttl
    if policy is None:
        return skipped(CHECKER, "the contract promises no TTL policy")
    limit = policy.max_seconds * 1000 + tolerance_ms
    findings: list[Finding] = []
    seen: list[int] = []
    exempt = gone = 0
    for key in sorted(ttls):
        pttl = ttls[key]
        if any(fnmatchcase(key, pattern) for pattern in policy.exempt):
            exempt += 1
        elif pttl == GONE:
            gone += 1
        elif pttl == NO_TTL or pttl < 0 or pttl > limit:
            findings.append(_finding(key, pttl, policy.max_seconds))
        else:
            seen.append(pttl)
    measurements: dict[str, Any] = {
        "keys_checked": len(ttls) - exempt - gone,
        "keys_exempt": exempt,
        "keys_gone": gone,
        "keys_without_ttl": sum(f.details["pttl_ms"] == NO_TTL for f in findings),
        "keys_over_max": sum(f.details["pttl_ms"] > limit for f in findings),
        "min_ttl_ms": min(seen, default=None),
        "max_ttl_ms": max(seen, default=None),
        "mean_ttl_ms": sum(seen) / len(seen) if seen else None,
        "spread_ms": max(seen) - min(seen) if seen else None,
        "max_allowed_ms": policy.max_seconds * 1000,
        "jitter_promised_s": policy.jitter,
    }
    return result(CHECKER, findings, measurements)


def _finding(key: str, pttl: int, max_seconds: float) -> Finding:
    promised = f"the contract promises every cache key a TTL of at most {max_seconds:g} s"
    if pttl == NO_TTL:
        what = (
            f"Cache key {key!r} has no TTL (PTTL -1), so it never expires and any missed "
            f"invalidation is permanent; {promised}."
        )
    elif pttl < 0:
        what = f"Cache key {key!r} reports an invalid PTTL {pttl}; {promised}."
    else:
        what = f"Cache key {key!r} has a TTL of {pttl} ms left; {promised}."
    return Finding(CHECKER, "ttl_bounded", key, what, (), (), {"pttl_ms": pttl})
