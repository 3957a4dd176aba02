"""Reference implementations of the classic caching strategies, each with its contract.

Every class implements `cachecheck.Subject` and exposes `contract`. Importing this package
registers each strategy in `cachecheck.strategies.REFERENCES` (and its known-buggy variants,
used to prove the checkers, in a private registry). Strategies with optional dependencies
(sharding: uhashring; metrics: prometheus_client; HTTP: starlette) import them only when used.
"""

from __future__ import annotations

from ._registry import REFERENCES, Reference
from .breaker import BreakerState, CircuitBreaker, CircuitBreakerCache
from .cache_aside import CacheAside, LeasedCacheAside
from .http import HTTPCacheMiddleware
from .invalidation import ManualInvalidation, PubSubInvalidation, StreamInvalidation
from .large_values import SizeGuard, ValueTooLargeError
from .metrics import MetricsCache
from .negative import NegativeCache
from .refresh_ahead import RefreshAhead
from .sharding import ShardedCache
from .stampede import LockedCacheAside, XFetchCache
from .tags import TaggedCache
from .ttl_jitter import JitteredTTLCache
from .warming import WarmingCache
from .write_behind import WriteBehind
from .write_through import WriteThrough

__all__ = [
    "REFERENCES",
    "BreakerState",
    "CacheAside",
    "CircuitBreaker",
    "CircuitBreakerCache",
    "HTTPCacheMiddleware",
    "JitteredTTLCache",
    "LeasedCacheAside",
    "LockedCacheAside",
    "ManualInvalidation",
    "MetricsCache",
    "NegativeCache",
    "PubSubInvalidation",
    "Reference",
    "RefreshAhead",
    "ShardedCache",
    "SizeGuard",
    "StreamInvalidation",
    "TaggedCache",
    "ValueTooLargeError",
    "WarmingCache",
    "WriteBehind",
    "WriteThrough",
    "XFetchCache",
]
