"""Fixtures for the strategy tests: build subjects on the test's world and close them, count
Redis round trips, run a hook once, kill a named client, check TTL hygiene, and fail any test
that leaves a thread running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from cachecheck._contract import Contract
from cachecheck._world import World
from cachecheck.checkers import check_ttl_hygiene
from cachecheck.strategies.invalidation import PubSubInvalidation, StreamInvalidation
from cachecheck.strategies.write_behind import WriteBehind

T = TypeVar("T")

#: Strategies whose constructor takes a client factory (they open extra connections).
CONNECTING = (WriteBehind, PubSubInvalidation, StreamInvalidation)


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every thread a test starts must be gone shortly after its teardown."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    leaked: list[threading.Thread] = []
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.02)
    pytest.fail(f"threads leaked: {sorted(t.name for t in leaked)}")


@pytest.fixture
def world(cachecheck_world: World) -> World:
    return cachecheck_world


@pytest.fixture
def closing(world: World) -> Iterator[Callable[[T], T]]:
    """Register a subject to be closed at teardown (before the world's clients are)."""
    subjects: list[Any] = []

    def track(subject: T) -> T:
        subjects.append(subject)
        return subject

    yield track
    for subject in reversed(subjects):
        subject.close()


@pytest.fixture
def make(world: World, closing: Callable[[Any], Any]) -> Callable[..., Any]:
    """`make(Cls, **options)`: a subject on this world's Redis, database, namespace and clock."""

    def build(cls: type[Any], **options: Any) -> Any:
        options.setdefault("clock", world.clock)
        redis_arg = world.client if issubclass(cls, CONNECTING) else world.client()
        return closing(cls(redis_arg, world.database, world.namespace, **options))

    return build


@pytest.fixture
def once() -> Callable[[Callable[..., Any]], Callable[..., None]]:
    """Wrap a hook so it runs only on its first call (a race is forced exactly once)."""

    def wrap(action: Callable[..., Any]) -> Callable[..., None]:
        fired = threading.Event()

        def hook(*args: Any) -> None:
            if not fired.is_set():
                fired.set()
                action(*args)

        return hook

    return wrap


@pytest.fixture
def redis_calls(world: World) -> Callable[[], Any]:
    """`with redis_calls() as calls:` records every Redis command (or pipeline) the calling
    thread sends (a subject's background threads are not counted)."""

    @contextmanager
    def recording() -> Iterator[list[str]]:
        calls: list[str] = []
        me = threading.get_ident()

        def hook(component: str, operation: str) -> None:
            if component == "redis" and threading.get_ident() == me:
                calls.append(operation)

        world.io.hook = hook
        try:
            yield calls
        finally:
            world.io.hook = None

    return recording


@pytest.fixture
def kill_client(world: World) -> Callable[[str], int]:
    """Kill every connection named `name` (CLIENT SETNAME) from the admin side."""

    def kill(name: str) -> int:
        admin = world.admin_client()
        ids = [int(c["id"]) for c in admin.client_list() if c.get("name") == name]
        for client_id in ids:
            admin.client_kill_filter(_id=str(client_id))
        return len(ids)

    return kill


@pytest.fixture
def pttls(world: World) -> Callable[[], dict[str, int]]:
    """PTTL of every key under the world's namespace."""

    def snapshot() -> dict[str, int]:
        admin = world.admin_client()
        keys = sorted(admin.scan_iter(match=world.namespace + "*", count=1000))
        return {key: int(admin.pttl(key)) for key in keys}

    return snapshot


@pytest.fixture
def ttl_findings(pttls: Callable[[], dict[str, int]]) -> Callable[[Contract], list[str]]:
    """Run cachecheck's TTL hygiene checker on the namespace; return the offending keys."""

    def findings(contract: Contract) -> list[str]:
        result = check_ttl_hygiene(pttls(), contract)
        return [str(f.key) for f in result.findings]

    return findings


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass (no tight timing asserts)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def eventually() -> Callable[..., bool]:
    return wait_until
