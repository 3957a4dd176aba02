"""Which scenario (or dedicated property check) catches which mutant.

The mutation-score table runs the stateful model on every mutant; the ones the generic model
cannot catch (they need several processes, a slow database, a broken link, several Redis
databases, an HTTP client...) are run here: `catch_mutant(world, mutant)` runs the scenario
bound to the mutant's name on the mutant's own factory and contract and says whether the
mutant was caught and by which property.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cachecheck._redis_server import RedisServer
from cachecheck._world import World
from cachecheck.scenarios._breaker import BreakerParams, run_breaker, run_breaker_partition
from cachecheck.scenarios._edge import (
    run_http_conformance,
    run_metrics_accuracy,
    run_remap_fraction,
    run_shard_flap,
    run_torn_read,
)
from cachecheck.scenarios._invalidation import InvalidationParams, run_invalidation_loss
from cachecheck.scenarios._jitter import JitterParams, run_jittered_expiry
from cachecheck.scenarios._refresh_ahead import run_refresh_ahead
from cachecheck.scenarios._result import ScenarioResult
from cachecheck.scenarios._stampede import (
    StampedeParams,
    run_stampede,
    run_stampede_holder_crash,
    run_stampede_lock_overrun,
)
from cachecheck.scenarios._write_behind import run_write_behind_worker_crash
from cachecheck.scenarios._xfetch import run_xfetch_expiry

__all__ = ["CATCHERS", "CatchResult", "Catcher", "catch_mutant", "run_catcher"]

#: A scenario bound to its parameters: (world, factory, contract) -> result.
Run = Callable[[World, Any, Any], ScenarioResult]


@dataclass(frozen=True)
class Catcher:
    """How one mutant is caught: `run(world, factory, contract)` and the property (a finding's
    property or checker name) expected to fail. `needs` names what the world must offer:
    "proxy" (the fault proxy), "server" (a server cachecheck started) or nothing."""

    scenario: str
    prop: str
    run: Run
    needs: tuple[str, ...] = ()

    def unmet(self, world: World) -> str | None:
        """Why this catcher cannot run on `world`, or None."""
        if "proxy" in self.needs and world.proxy is None:
            return f"{self.scenario} needs the fault proxy (world.proxy)"
        if "server" in self.needs and not isinstance(world.redis_server, RedisServer):
            return f"{self.scenario} needs a Redis server cachecheck started"
        return None


def _scenario(fn: Callable[..., ScenarioResult], **params: Any) -> Run:
    """Bind a scenario's params; the seed stays 0 (catchers are reproducible by name)."""
    return lambda world, factory, contract: fn(world, factory, contract, **params)


_STAMPEDE = Catcher(
    "stampede", "single_flight", _scenario(run_stampede, params=StampedeParams(threads=6, rounds=1))
)
_XFETCH = Catcher("xfetch_expiry", "single_flight", _scenario(run_xfetch_expiry))
_WORKER = Catcher(
    "write_behind_worker_crash", "durability", _scenario(run_write_behind_worker_crash)
)
_INVALIDATION = Catcher(
    "invalidation_loss",
    "convergence",
    _scenario(run_invalidation_loss, params=InvalidationParams(fault="partition")),
    ("proxy",),
)
_HTTP = Catcher("http_conformance", "http", _scenario(run_http_conformance))

#: Mutant name -> its catcher.
CATCHERS: dict[str, Catcher] = {
    "stampede_plain_del_release": Catcher("stampede_lock_overrun", "mutual_exclusion",
                                          _scenario(run_stampede_lock_overrun)),
    "stampede_lock_without_nx": _STAMPEDE,
    "stampede_lock_without_expiry": Catcher("stampede_holder_crash", "single_flight",
                                            _scenario(run_stampede_holder_crash)),
    "xfetch_never_early": _XFETCH,
    "xfetch_always_recompute": _XFETCH,
    "breaker_no_half_open": Catcher("breaker", "breaker",
                                    _scenario(run_breaker, params=BreakerParams(outage="down")),
                                    ("proxy",)),
    "breaker_stale_after_partition": Catcher("breaker_partition", "convergence",
                                             _scenario(run_breaker_partition), ("proxy",)),
    "refresh_ahead_refresh_storm": Catcher("refresh_ahead", "refresh",
                                           _scenario(run_refresh_ahead)),
    "write_behind_ack_before_commit": _WORKER,
    "write_behind_unguarded_apply": Catcher("write_behind_worker_crash", "no_regression",
                                            _scenario(run_write_behind_worker_crash)),
    "invalidation_pubsub_no_flush_on_reconnect": _INVALIDATION,
    "invalidation_stream_resumes_from_end": _INVALIDATION,
    "ttl_jitter_ms_as_seconds": Catcher("jittered_expiry", "ttl_hygiene", _scenario(
        run_jittered_expiry, params=JitterParams(keys=20, compress_to=0.5, settle=0.1))),
    "sharded_modulo_hashing": Catcher("remap_fraction", "remap_fraction",
                                      _scenario(run_remap_fraction)),
    "sharded_no_owner_generation": Catcher("shard_flap", "staleness", _scenario(run_shard_flap),
                                           ("server",)),
    "size_guard_unversioned_chunks": Catcher("torn_read", "size", _scenario(run_torn_read)),
    "metrics_negative_hit_as_miss": Catcher("metrics_accuracy", "metrics",
                                            _scenario(run_metrics_accuracy)),
    "http_etag_unquoted": _HTTP,
    "http_ims_string_compare": _HTTP,
    "http_if_match_weak_compare": _HTTP,
    "http_304_with_body": _HTTP,
    "http_stores_private": _HTTP,
}  # fmt: skip


@dataclass(frozen=True)
class CatchResult:
    """What `run_catcher` found: the verdict, the property, the time, and the full result."""

    mutant: str
    caught: bool
    prop: str
    seconds: float
    result: ScenarioResult


WorldSource = World | Callable[[], World]


@contextlib.contextmanager
def _world_from(source: WorldSource) -> Iterator[World]:
    """A world, or a factory of one (closed afterwards)."""
    if isinstance(source, World):
        yield source
        return
    world = source()
    try:
        yield world
    finally:
        world.close()


def run_catcher(source: WorldSource, mutant: Any) -> CatchResult | None:
    """Run the catcher of `mutant` (a `Mutant` from `cachecheck.strategies`: `name`, `factory`,
    `contract`); None when no catcher is bound to it or the world lacks what it needs."""
    catcher = CATCHERS.get(mutant.name)
    if catcher is None:
        return None
    with _world_from(source) as world:
        if catcher.unmet(world) is not None:
            return None
        started = time.monotonic()
        result = catcher.run(world, mutant.factory, mutant.contract)
        seconds = time.monotonic() - started
    caught = not result.passed
    if catcher.prop in result.violated or not caught:
        prop = catcher.prop
    else:
        prop = sorted(result.violated)[0]
    return CatchResult(mutant.name, caught, prop, seconds, result)


def catch_mutant(source: WorldSource, mutant: Any) -> tuple[bool, str] | None:
    """(caught, property) for `mutant`, or None when no catcher applies.

    `source` is a `World` (the plugin's `cachecheck_world`: Redis behind the fault proxy) or
    a zero-argument factory of one, closed afterwards. The property is the catcher's expected
    one when it failed, else the first that did (or the expected one when nothing failed).

    ```python
    from cachecheck.strategies._registry import MUTANTS
    caught, prop = catch_mutant(cachecheck_world, MUTANTS["stampede_plain_del_release"])
    ```
    """
    score = run_catcher(source, mutant)
    return None if score is None else (score.caught, score.prop)
