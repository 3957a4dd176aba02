"""Fixtures for the edge-strategy tests: stampede, XFetch, breaker, sharding, HTTP, metrics, size.

Every test here runs against the real Redis server and SQL database the cachecheck plugin
provides; extra servers (sharding, breaker faults) come from `cachecheck_redis_factory`.
Threads started by a test are joined before it ends; clients are closed in teardown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from cachecheck import ClientSettings, RedisServer, World, make_client

#: Generous: a thread that needs longer than this is stuck, not slow.
JOIN_TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every thread a test starts (workers, event-loop portals, anyio worker threads) has
    finished by the end of its teardown."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(JOIN_TIMEOUT)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads leaked past the test: {still}"


@pytest.fixture
def world(cachecheck_world: World) -> World:
    return cachecheck_world


@pytest.fixture
def concurrently() -> Iterator[Callable[[Callable[[int], Any], int], list[Any]]]:
    """`concurrently(fn, n)` runs `fn(0..n-1)` in n threads released together by a barrier,
    joins them, re-raises the first exception and returns the results in index order."""
    started: list[threading.Thread] = []

    def run(fn: Callable[[int], Any], n: int) -> list[Any]:
        barrier = threading.Barrier(n)
        results: list[Any] = [None] * n
        errors: list[BaseException] = []

        def body(index: int) -> None:
            try:
                barrier.wait(timeout=JOIN_TIMEOUT)
                results[index] = fn(index)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=body, args=(i,), name=f"edge-{i}") for i in range(n)]
        started.extend(threads)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a worker thread did not finish"
        if errors:
            raise errors[0]
        return results

    yield run
    for thread in started:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in started), "threads leaked past the test"


@pytest.fixture
def client_for() -> Iterator[Callable[..., redis.Redis]]:
    """`client_for(server, socket_timeout=0.25)`: a fail-fast client for an extra server."""
    made: list[redis.Redis] = []

    def make(server: RedisServer, *, socket_timeout: float = 1.0) -> redis.Redis:
        settings = ClientSettings(socket_timeout=socket_timeout, connect_timeout=socket_timeout)
        client = make_client(server.url, settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def count_commands() -> Callable[[redis.Redis, Callable[[], object]], int]:
    """`count_commands(admin, fn)`: how many commands the server processed while `fn` ran
    (from `INFO stats`; the first INFO is counted by the second one and subtracted)."""

    def count(admin: redis.Redis, fn: Callable[[], object]) -> int:
        before = int(admin.info("stats")["total_commands_processed"])
        fn()
        after = int(admin.info("stats")["total_commands_processed"])
        return after - before - 1

    return count
