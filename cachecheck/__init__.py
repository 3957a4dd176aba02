"""cachecheck: find correctness bugs in cache layers.

Real Redis, a real SQL database, Hypothesis-driven operations and faults, Jepsen-style
histories checked against the cache's declared contract.
"""

from __future__ import annotations

from cachecheck._client import ClientSettings, make_client
from cachecheck._clock import Clock, ManualClock, MonotonicClock, OffsetClock
from cachecheck._config import Fsync, Persistence, PersistenceSpec, parse_persistence
from cachecheck._contract import BreakerPolicy, Contract, Durability, TtlPolicy
from cachecheck._database import Database, DatabaseHooks, DatabaseUnavailable, Load, Row
from cachecheck._errors import CachecheckError, ConfigError, ProvisionError, UnsafeResetError
from cachecheck._history import Commit, Event, History, Op, OpKind, Outcome, PendingOp
from cachecheck._interleave import Interleaver
from cachecheck._model import (
    ContractViolation,
    ModelConfig,
    ModelOutcome,
    Step,
    build_machine,
    replay_steps,
    run_model,
)
from cachecheck._providers import start_redis
from cachecheck._redis_server import ExternalRedis, RedisHandle, RedisServer, ServerOptions
from cachecheck._runner import RunnerConfig, RunOutcome, ScheduledFault, run_concurrent
from cachecheck._settings import CachecheckSettings
from cachecheck._subject import (
    Closeable,
    Drainable,
    FunctionSubject,
    HasWorker,
    Subject,
    Taggable,
    Warmable,
    Worker,
    capabilities,
)
from cachecheck._world import World
from cachecheck.suite import CacheSuite

__version__ = "0.1.0"

__all__ = [
    "BreakerPolicy",
    "CacheSuite",
    "CachecheckError",
    "CachecheckSettings",
    "ClientSettings",
    "Clock",
    "Closeable",
    "Commit",
    "ConfigError",
    "Contract",
    "ContractViolation",
    "Database",
    "DatabaseHooks",
    "DatabaseUnavailable",
    "Drainable",
    "Durability",
    "Event",
    "ExternalRedis",
    "Fsync",
    "FunctionSubject",
    "HasWorker",
    "History",
    "Interleaver",
    "Load",
    "ManualClock",
    "ModelConfig",
    "ModelOutcome",
    "MonotonicClock",
    "OffsetClock",
    "Op",
    "OpKind",
    "Outcome",
    "PendingOp",
    "Persistence",
    "PersistenceSpec",
    "ProvisionError",
    "RedisHandle",
    "RedisServer",
    "Row",
    "RunOutcome",
    "RunnerConfig",
    "ScheduledFault",
    "ServerOptions",
    "Step",
    "Subject",
    "Taggable",
    "TtlPolicy",
    "UnsafeResetError",
    "Warmable",
    "Worker",
    "World",
    "__version__",
    "build_machine",
    "capabilities",
    "make_client",
    "parse_persistence",
    "replay_steps",
    "run_concurrent",
    "run_model",
    "start_redis",
]
