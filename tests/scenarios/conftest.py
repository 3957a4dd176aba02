"""Fixtures for the scenario tests: the plugin's world, worlds on extra servers with another
persistence mode, and a check that no test leaves a thread or a child process behind."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cachecheck import Database, RedisServer, World
from cachecheck._settings import CachecheckSettings

#: Generous: a subject's threads stop within a second; this only catches real leaks.
LEAK_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every thread and child process a test starts is gone by the end of its teardown."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEAK_TIMEOUT
    while True:
        threads = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        children = [p.name for p in multiprocessing.active_children()]
        if not threads and not children:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"leaked threads {threads} and child processes {children}")
        time.sleep(0.02)


@pytest.fixture
def world(cachecheck_world: World) -> World:
    """The plugin's world: Redis behind the fault proxy, the database, the clock."""
    return cachecheck_world


WorldOn = Callable[[str], World]


@pytest.fixture
def world_on(
    cachecheck_redis_factory: Callable[..., RedisServer],
    cachecheck_db: Database,
    cachecheck_settings: CachecheckSettings,
) -> Iterator[WorldOn]:
    """`world_on("aof:always")`: a world on a fresh server with that persistence (no fault
    proxy: process faults only). Its clients are closed and its server stopped afterwards."""
    made: list[World] = []

    def make(persistence: str) -> World:
        server = cachecheck_redis_factory(persistence=persistence)
        world = World(server, cachecheck_db, cachecheck_settings.client, cachecheck_db.clock)
        made.append(world)
        world.reset()
        return world

    yield make
    for world in made:
        world.close_clients()
        world.admin_client().close()
