"""Fault injection: a Toxiproxy-compatible proxy, a client for any Toxiproxy, fault values,
process faults and Hypothesis strategies that draw them.

```python
from cachecheck.chaos import Latency, ToxiproxyClient, start_toxiproxy

with start_toxiproxy("auto", seed=1) as toxiproxy:
    proxy = toxiproxy.client.create_proxy("redis", upstream="127.0.0.1:6379")
    with proxy.fault(Latency(ms=100)):
        ...  # connect to proxy.host:proxy.port
```

See docs/chaos.md, including where the embedded server differs from real Toxiproxy.
"""

from __future__ import annotations

from ._client import Proxy as Proxy
from ._client import Toxic as Toxic
from ._client import ToxiproxyBadRequest as ToxiproxyBadRequest
from ._client import ToxiproxyClient as ToxiproxyClient
from ._client import ToxiproxyConflict as ToxiproxyConflict
from ._client import ToxiproxyError as ToxiproxyError
from ._client import ToxiproxyNotFound as ToxiproxyNotFound
from ._draw import NETWORK_KINDS as NETWORK_KINDS
from ._draw import PROCESS_KINDS as PROCESS_KINDS
from ._draw import fault_schedules as fault_schedules
from ._draw import faults as faults
from ._faults import Bandwidth as Bandwidth
from ._faults import Direction as Direction
from ._faults import Down as Down
from ._faults import Fault as Fault
from ._faults import Latency as Latency
from ._faults import LimitData as LimitData
from ._faults import ResetPeer as ResetPeer
from ._faults import Slicer as Slicer
from ._faults import SlowClose as SlowClose
from ._faults import Timeout as Timeout
from ._faults import ToxicFault as ToxicFault
from ._faults import ToxicSpec as ToxicSpec
from ._faults import blackhole as blackhole
from ._faults import cut as cut
from ._faults import partition as partition
from ._faults import slow_link as slow_link
from ._fixtures import attach_proxy as attach_proxy
from ._fixtures import proxied_url as proxied_url
from ._fixtures import proxy_name as proxy_name
from ._fixtures import proxy_redis as proxy_redis
from ._fixtures import reset_faults as reset_faults
from ._fixtures import start_session_toxiproxy as start_session_toxiproxy
from ._inject import FaultSchedule as FaultSchedule
from ._inject import Injector as Injector
from ._inject import RunnerPlan as RunnerPlan
from ._inject import ScheduledFault as ScheduledFault
from ._inject import for_runner as for_runner
from ._inject import play as play
from ._process import Crash as Crash
from ._process import Pause as Pause
from ._process import WorkerCrash as WorkerCrash
from ._process import crash_redis as crash_redis
from ._process import crash_worker as crash_worker
from ._process import pause_redis as pause_redis
from ._process import redis_crashed as redis_crashed
from ._process import redis_paused as redis_paused
from ._process import restart_redis as restart_redis
from ._process import restart_worker as restart_worker
from ._process import resume_redis as resume_redis
from ._process import worker_crashed as worker_crashed
from ._provision import ToxiproxyHandle as ToxiproxyHandle
from ._provision import start_toxiproxy as start_toxiproxy
from ._server import EmbeddedToxiproxy as EmbeddedToxiproxy
from ._server import ServerStats as ServerStats
from ._server import serve as serve

__all__ = [
    "NETWORK_KINDS",
    "PROCESS_KINDS",
    "Bandwidth",
    "Crash",
    "Direction",
    "Down",
    "EmbeddedToxiproxy",
    "Fault",
    "FaultSchedule",
    "Injector",
    "Latency",
    "LimitData",
    "Pause",
    "Proxy",
    "ResetPeer",
    "RunnerPlan",
    "ScheduledFault",
    "ServerStats",
    "Slicer",
    "SlowClose",
    "Timeout",
    "Toxic",
    "ToxicFault",
    "ToxicSpec",
    "ToxiproxyBadRequest",
    "ToxiproxyClient",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyHandle",
    "ToxiproxyNotFound",
    "WorkerCrash",
    "attach_proxy",
    "blackhole",
    "crash_redis",
    "crash_worker",
    "cut",
    "fault_schedules",
    "faults",
    "for_runner",
    "partition",
    "pause_redis",
    "play",
    "proxied_url",
    "proxy_name",
    "proxy_redis",
    "redis_crashed",
    "redis_paused",
    "reset_faults",
    "restart_redis",
    "restart_worker",
    "resume_redis",
    "serve",
    "slow_link",
    "start_session_toxiproxy",
    "start_toxiproxy",
    "worker_crashed",
]
