"""Chaos scenarios: named experiments with measured results.

Each scenario runs a subject (built by a factory on the world) under a fault plan, checks the
recorded history against the subject's contract, and returns a `ScenarioResult`: passed or
not, the findings that prove it, the parameters (with the Redis persistence and client
settings), measurements, and plot-ready figures. Every random choice comes from the `seed`.

```python
from cachecheck.scenarios import run_stampede
from cachecheck.strategies.stampede import STAMPEDE_LOCK_CONTRACT, make_locked_cache_aside

result = run_stampede(cachecheck_world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=1)
assert result.passed, result.summary()
result.measurements["max_loads_per_episode"]  # 1 with the lock
```

`catch_mutant(world, mutant)` runs the scenario that catches a given mutant. See
docs/scenarios.md for what each scenario shows and how to read its numbers.
"""

from __future__ import annotations

from cachecheck.scenarios._breaker import BreakerParams as BreakerParams
from cachecheck.scenarios._breaker import BreakerPartitionParams as BreakerPartitionParams
from cachecheck.scenarios._breaker import run_breaker as run_breaker
from cachecheck.scenarios._breaker import run_breaker_partition as run_breaker_partition
from cachecheck.scenarios._catchers import CATCHERS as CATCHERS
from cachecheck.scenarios._catchers import Catcher as Catcher
from cachecheck.scenarios._catchers import CatchResult as CatchResult
from cachecheck.scenarios._catchers import catch_mutant as catch_mutant
from cachecheck.scenarios._catchers import run_catcher as run_catcher
from cachecheck.scenarios._edge import HttpParams as HttpParams
from cachecheck.scenarios._edge import MetricsParams as MetricsParams
from cachecheck.scenarios._edge import RemapParams as RemapParams
from cachecheck.scenarios._edge import ShardFlapParams as ShardFlapParams
from cachecheck.scenarios._edge import TornReadParams as TornReadParams
from cachecheck.scenarios._edge import run_http_conformance as run_http_conformance
from cachecheck.scenarios._edge import run_metrics_accuracy as run_metrics_accuracy
from cachecheck.scenarios._edge import run_remap_fraction as run_remap_fraction
from cachecheck.scenarios._edge import run_shard_flap as run_shard_flap
from cachecheck.scenarios._edge import run_torn_read as run_torn_read
from cachecheck.scenarios._invalidation import InvalidationParams as InvalidationParams
from cachecheck.scenarios._invalidation import StaleAfterRestartParams as StaleAfterRestartParams
from cachecheck.scenarios._invalidation import run_invalidation_loss as run_invalidation_loss
from cachecheck.scenarios._invalidation import run_stale_after_restart as run_stale_after_restart
from cachecheck.scenarios._jitter import JitterParams as JitterParams
from cachecheck.scenarios._jitter import run_jittered_expiry as run_jittered_expiry
from cachecheck.scenarios._refresh_ahead import RefreshParams as RefreshParams
from cachecheck.scenarios._refresh_ahead import run_refresh_ahead as run_refresh_ahead
from cachecheck.scenarios._result import ScenarioResult as ScenarioResult
from cachecheck.scenarios._stampede import HolderCrashParams as HolderCrashParams
from cachecheck.scenarios._stampede import LockOverrunParams as LockOverrunParams
from cachecheck.scenarios._stampede import StampedeParams as StampedeParams
from cachecheck.scenarios._stampede import plain_cache_aside as plain_cache_aside
from cachecheck.scenarios._stampede import run_stampede as run_stampede
from cachecheck.scenarios._stampede import run_stampede_holder_crash as run_stampede_holder_crash
from cachecheck.scenarios._stampede import run_stampede_lock_overrun as run_stampede_lock_overrun
from cachecheck.scenarios._write_behind import WorkerCrashParams as WorkerCrashParams
from cachecheck.scenarios._write_behind import WriteBehindLossParams as WriteBehindLossParams
from cachecheck.scenarios._write_behind import run_write_behind_loss as run_write_behind_loss
from cachecheck.scenarios._write_behind import (
    run_write_behind_worker_crash as run_write_behind_worker_crash,
)
from cachecheck.scenarios._xfetch import XFetchParams as XFetchParams
from cachecheck.scenarios._xfetch import run_xfetch_expiry as run_xfetch_expiry

#: Every scenario by name (the `name` of the results it returns).
SCENARIOS = {
    "write_behind_loss": run_write_behind_loss,
    "write_behind_worker_crash": run_write_behind_worker_crash,
    "stampede": run_stampede,
    "stampede_holder_crash": run_stampede_holder_crash,
    "stampede_lock_overrun": run_stampede_lock_overrun,
    "xfetch_expiry": run_xfetch_expiry,
    "breaker": run_breaker,
    "breaker_partition": run_breaker_partition,
    "jittered_expiry": run_jittered_expiry,
    "invalidation_loss": run_invalidation_loss,
    "stale_after_restart": run_stale_after_restart,
    "refresh_ahead": run_refresh_ahead,
    "remap_fraction": run_remap_fraction,
    "shard_flap": run_shard_flap,
    "torn_read": run_torn_read,
    "metrics_accuracy": run_metrics_accuracy,
    "http_conformance": run_http_conformance,
}

__all__ = [
    "CATCHERS",
    "SCENARIOS",
    "BreakerParams",
    "BreakerPartitionParams",
    "CatchResult",
    "Catcher",
    "HolderCrashParams",
    "HttpParams",
    "InvalidationParams",
    "JitterParams",
    "LockOverrunParams",
    "MetricsParams",
    "RefreshParams",
    "RemapParams",
    "ScenarioResult",
    "ShardFlapParams",
    "StaleAfterRestartParams",
    "StampedeParams",
    "TornReadParams",
    "WorkerCrashParams",
    "WriteBehindLossParams",
    "XFetchParams",
    "catch_mutant",
    "plain_cache_aside",
    "run_breaker",
    "run_breaker_partition",
    "run_catcher",
    "run_http_conformance",
    "run_invalidation_loss",
    "run_jittered_expiry",
    "run_metrics_accuracy",
    "run_refresh_ahead",
    "run_remap_fraction",
    "run_shard_flap",
    "run_stale_after_restart",
    "run_stampede",
    "run_stampede_holder_crash",
    "run_stampede_lock_overrun",
    "run_torn_read",
    "run_write_behind_loss",
    "run_write_behind_worker_crash",
    "run_xfetch_expiry",
]
