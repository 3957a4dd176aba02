"""Jittered expiry and the avalanche: many keys filled at once, their expiry spread read from
PTTL, and the database load when they expire under steady reads.

Real TTLs are long (a minute), so time is compressed: after the fill every entry's PTTL is
scaled by one factor (so the mean lands `compress_to` s away), which keeps the shape of the
expiry distribution. Loads are then counted per window of compressed time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from cachecheck._contract import Contract
from cachecheck._model import FAULT_ERRORS, SubjectFactory
from cachecheck._world import World
from cachecheck.checkers import CheckResult, Finding, check_ttl_hygiene
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    Subjects,
    ThreadGroup,
    describe_params,
    recorded_read,
    scenario_rng,
    subject_name,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = ["JitterParams", "run_jittered_expiry"]


@dataclass(frozen=True)
class JitterParams:
    """`keys` keys are filled back to back through one subject; their PTTLs are read, then
    scaled so the mean expiry is `compress_to` s away; `readers` threads (own subjects) read
    seeded random keys until `settle` s after the last expiry. Loads are counted per
    `window` s, the first window starting at the first expiry (a miss is seen at the next
    read of the key, so loads trail expiries by the time readers take to come round to
    it: with 40 keys and about 1000 reads/s, some 40 ms). `ttl_tolerance` absorbs the time
    the fill itself took (TTLs count from each key's database read)."""

    keys: int = 40
    readers: int = 4
    compress_to: float = 3.0
    window: float = 0.1
    settle: float = 0.4
    ttl_tolerance: float = 0.25


def run_jittered_expiry(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: JitterParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Fill many keys at once; report the expiry spread against the configured jitter
    (`contract.ttl.jitter`) and the peak database loads per window when they expire."""
    params = params or JitterParams()
    started = time.monotonic()
    world.reset()
    keys = [f"j{i:03d}" for i in range(params.keys)]
    for key in keys:
        world.database.write(key, f"{key}#v1")
    with Subjects(world, factory) as subjects:
        filler = subjects.one()
        filled_from = world.clock.now()
        for key in keys:
            recorded_read(world, "filler", filler, key)
        pttls = world.keyspace.pttls()
        fill_s = world.clock.now() - filled_from
        entries = {k: p for k, p in pttls.items() if p > 0}
        factor, expiries = _compress(world, entries, params.compress_to)
        compressed_at = world.clock.now()
        _read_through_expiry(world, subjects.make(params.readers), keys, expiries, params, seed)
        name = subject_name(filler, contract.name)
    loads = [ld.at - compressed_at for ld in world.database.loads() if ld.at >= compressed_at]
    return _judge(world, contract, params, pttls, entries, factor, loads, fill_s, seed,
                  time.monotonic() - started, name)  # fmt: skip


def _compress(
    world: World, entries: dict[str, int], target: float
) -> tuple[float, dict[str, float]]:
    """Scale every entry's PTTL so the mean is `target` s; returns (factor, new expiry in s
    per key). Entries already shorter than that are left alone (factor 1)."""
    if not entries:
        return 1.0, {}
    mean_s = sum(entries.values()) / len(entries) / 1e3
    factor = min(1.0, target / mean_s)
    scaled = {k: max(1, round(p * factor)) for k, p in entries.items()}
    pipe = world.admin_client().pipeline(transaction=False)
    for key, ms in scaled.items():
        pipe.pexpire(key, ms)
    pipe.execute()
    return factor, {k: ms / 1e3 for k, ms in scaled.items()}


def _read_through_expiry(
    world: World,
    readers: list[Any],
    keys: list[str],
    expiries: dict[str, float],
    params: JitterParams,
    seed: int,
) -> None:
    horizon = max(expiries.values(), default=0.0) + params.settle
    with ThreadGroup() as group:
        for i, reader in enumerate(readers):
            rng = scenario_rng(f"jitter.reader{i}", seed)

            def step(_n: int, reader: Any = reader, rng: Any = rng) -> None:
                with contextlib.suppress(*FAULT_ERRORS):
                    reader.get(rng.choice(keys))

            group.loop(f"jitter-reader-{i}", step, 0.0)
        group.stop.wait(horizon)


def _judge(
    world: World,
    contract: Contract,
    params: JitterParams,
    pttls: dict[str, int],
    entries: dict[str, int],
    factor: float,
    loads: list[float],
    fill_s: float,
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    checks: list[CheckResult] = [check_ttl_hygiene(pttls, contract)]
    ttls_s = sorted(p / 1e3 for p in entries.values())
    spread = ttls_s[-1] - ttls_s[0] if ttls_s else 0.0
    jitter = contract.ttl.jitter if contract.ttl is not None else 0.0
    compressed = [p * factor / 1e3 for p in entries.values()]
    first, end = min(compressed, default=0.0), max(compressed, default=0.0) + params.settle
    windows = fig.per_window(loads, start=first, end=end, width=params.window)
    measurements = {
        "keys": params.keys,
        **_ttl_numbers(ttls_s, jitter),
        "fill_s": round(fill_s, 3),
        "compression": round(factor, 6),
        "expiry_spread_compressed_s": round(spread * factor, 4),
        "first_expiry_s": round(first, 4),
        "loads": len(loads),
        "extra_loads": max(0, len(loads) - len(ttls_s)),
        "peak_loads_per_window": int(max((n for _, n in windows), default=0.0)),
        "window_s": params.window,
        "windows_with_loads": sum(1 for _, n in windows if n),
    }
    return build_result(
        "jittered_expiry", subject, checks=checks,
        findings=_jitter_findings(contract, ttls_s, spread, fill_s + params.ttl_tolerance),
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=_jitter_figures(contract, params, ttls_s, windows, factor),
        seed=seed, seconds=seconds,
        description=f"{params.keys} keys filled at once expire under {params.readers} "
        "readers; expiry spread from PTTL against the configured jitter, peak database "
        "loads per window.",
    )  # fmt: skip


def _ttl_numbers(ttls_s: list[float], jitter: float) -> dict[str, Any]:
    spread = ttls_s[-1] - ttls_s[0] if ttls_s else 0.0
    return {
        "entries_with_ttl": len(ttls_s),
        "ttl_min_s": round(ttls_s[0], 3) if ttls_s else None,
        "ttl_max_s": round(ttls_s[-1], 3) if ttls_s else None,
        "spread_s": round(spread, 3),
        "jitter_s": jitter,
        "spread_over_jitter": round(spread / jitter, 3) if jitter else None,
    }


def _jitter_figures(
    contract: Contract,
    params: JitterParams,
    ttls_s: list[float],
    windows: list[tuple[float, float]],
    factor: float,
) -> list[dict[str, Any] | None]:
    spread = ttls_s[-1] - ttls_s[0] if ttls_s else 0.0
    bound = None if contract.ttl is None else contract.ttl.max_seconds
    jitter = 0.0 if contract.ttl is None else contract.ttl.jitter
    peak = int(max((n for _, n in windows), default=0.0))
    return [
        fig.histogram("Expiry times after the fill (from PTTL)", "s until expiry", ttls_s,
                      y_label="keys", bound=bound,
                      note=f"spread {spread:.2f} s for a configured jitter of ±{jitter:g} s; "
                      "bound: the promised maximum TTL"),
        fig.series("Database loads as the keys expire", "compressed time (s)",
                   f"loads per {params.window * 1e3:.0f} ms", windows,
                   note=f"time compressed by {factor:.4g}; peak {peak} loads"),
    ]  # fmt: skip


def _jitter_findings(
    contract: Contract, ttls_s: list[float], spread: float, tolerance: float
) -> list[Finding]:
    """Jitter promised: the spread covers at least the jitter (half the configured width);
    every TTL is at least the promised minimum (max - 2 * jitter, less the fill time)."""
    policy = contract.ttl
    if policy is None or not ttls_s:
        return []
    found = []
    if policy.jitter > 0 and spread < policy.jitter:
        found.append(scenario_finding(
            "ttl_jitter_spread", f"Keys filled together expire within {spread:.3f} s of each "
            f"other; a jitter of ±{policy.jitter:g} s should spread them over about "
            f"{2 * policy.jitter:g} s.", checker="ttl", spread_s=spread,
            jitter_s=policy.jitter))  # fmt: skip
    floor = policy.max_seconds - 2 * policy.jitter - tolerance
    if policy.jitter > 0 and ttls_s[0] < floor:
        found.append(scenario_finding(
            "ttl_jitter_range", f"A key was filled with {ttls_s[0]:.3f} s to live; the contract "
            f"draws TTLs from [{policy.max_seconds - 2 * policy.jitter:g}, "
            f"{policy.max_seconds:g}] s.", checker="ttl", ttl_s=ttls_s[0],
            floor_s=floor))  # fmt: skip
    return found
