"""Helpers of the chaos tests (timing, raw sockets, polling)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.retry import Retry


def redis_client(url: str, timeout: float = 2.0, **overrides: Any) -> redis.Redis:
    """A redis-py client that shows a fault as one error: explicit timeouts, no retries
    (redis-py 8 retries with backoff by default, which masks or multiplies faults), and no
    CLIENT SETINFO handshake (two extra round trips per connection through a slow proxy)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
        "decode_responses": True,
        "driver_info": DriverInfo(name=None, lib_version=None),
        **overrides,
    }
    return redis.Redis.from_url(url, **options)


def recv_all(sock: socket.socket, size: int, timeout: float = 5.0) -> tuple[bytes, int]:
    """Read until `size` bytes or EOF; returns the data and how many reads it took."""
    sock.settimeout(timeout)
    data, reads = b"", 0
    while len(data) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        reads += 1
    return data, reads


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll `condition` every 10 ms until true or `timeout`; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.01)
    return True


def elapsed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
