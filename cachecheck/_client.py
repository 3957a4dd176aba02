"""redis-py clients with explicit timeouts and retry policy.

redis-py's defaults (a 5 s socket timeout, retries with backoff) mask or multiply injected
faults, so every client cachecheck makes states its settings, and reports record them.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any

import redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.retry import Retry


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Settings of every redis-py client the framework creates.

    The defaults fail fast: a fault shows up as one error, not as a long stall or a retried
    (and so possibly doubled) command.
    """

    socket_timeout: float = 1.0
    connect_timeout: float = 1.0
    retries: int = 0
    retry_backoff: float = 0.0
    protocol: int = 3
    health_check_interval: int = 0

    def __post_init__(self) -> None:
        if self.socket_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("ClientSettings timeouts must be > 0 seconds")
        if self.retries < 0:
            raise ValueError("ClientSettings.retries must be >= 0")
        if self.protocol not in (2, 3):
            raise ValueError("ClientSettings.protocol must be 2 or 3")

    def retry(self) -> Retry:
        backoff = ConstantBackoff(self.retry_backoff) if self.retry_backoff else NoBackoff()
        return Retry(backoff, self.retries)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _no_setinfo_options() -> dict[str, Any]:
    parameters = inspect.signature(redis.Redis.__init__).parameters
    if "driver_info" in parameters:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


_NO_SETINFO = _no_setinfo_options()


def make_client(url: str, settings: ClientSettings | None = None, **overrides: Any) -> redis.Redis:
    """A client for `url` with cachecheck's explicit settings; values decode to `str`."""
    settings = settings or ClientSettings()
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": settings.retry(),
        "retry_on_timeout": False,
        "protocol": settings.protocol,
        "health_check_interval": settings.health_check_interval,
        "decode_responses": True,
    }
    # No CLIENT SETINFO handshake: it costs a round trip and a metadata lookup per
    # connection, and tests open many. redis-py >= 7 spells it driver_info=None.
    options.update(_NO_SETINFO)
    options.update(overrides)
    return redis.Redis.from_url(url, **options)
