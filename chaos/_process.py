"""Process faults: crash (SIGKILL) and restart the Redis server, pause and resume it, crash
and restart a subject's background worker. Each action is recorded in a History, with the
server's persistence mode, which decides what a crash loses.

```python
with redis_crashed(world.server, world.history):
    ...  # Redis is down (connections refused); it restarts on the same port at the end
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from cachecheck._history import History
from cachecheck._subject import HasWorker

from ._faults import Fault


@runtime_checkable
class ControllableServer(Protocol):
    """A server whose process cachecheck controls (`RedisServer`, `DockerRedis`)."""

    def kill(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def restart(self) -> None: ...


@dataclass(frozen=True, slots=True, repr=False)
class Crash(Fault):
    """SIGKILL the Redis server (no shutdown save); lifting the fault restarts it on the same
    port and data directory, so its persistence mode decides what survived."""

    kind: ClassVar[str] = "crash"


@dataclass(frozen=True, slots=True, repr=False)
class Pause(Fault):
    """SIGSTOP the Redis server: connections stay open, nothing answers; lifting resumes it."""

    kind: ClassVar[str] = "pause"


@dataclass(frozen=True, slots=True, repr=False)
class WorkerCrash(Fault):
    """Crash the subject's background worker (no flush, no cleanup); lifting restarts it."""

    kind: ClassVar[str] = "worker_crash"


PROCESS_FAULTS: tuple[type[Fault], ...] = (Crash, Pause, WorkerCrash)


def _server_detail(server: object) -> dict[str, Any]:
    options = getattr(server, "options", None)
    persistence = getattr(options, "persistence", None)
    return {
        "persistence": None if persistence is None else str(persistence),
        "url": getattr(server, "url", None),
        "pid": getattr(server, "pid", None),
    }


def _note(history: History | None, name: str, **detail: Any) -> None:
    if history is not None:
        history.note(name, **detail)


def crash_redis(server: ControllableServer, history: History | None = None) -> None:
    """SIGKILL the server: whatever it had not persisted is lost."""
    detail = _server_detail(server)
    server.kill()
    _note(history, "redis.crash", **detail)


def restart_redis(server: ControllableServer, history: History | None = None) -> None:
    """Start the server again on the same port and data directory."""
    server.restart()
    _note(history, "redis.restart", **_server_detail(server))


def pause_redis(server: ControllableServer, history: History | None = None) -> None:
    """SIGSTOP the server: it keeps its connections and answers nothing."""
    server.pause()
    _note(history, "redis.pause", **_server_detail(server))


def resume_redis(server: ControllableServer, history: History | None = None) -> None:
    server.resume()
    _note(history, "redis.resume", **_server_detail(server))


def crash_worker(subject: HasWorker, history: History | None = None) -> None:
    """Crash the subject's worker as a SIGKILL would: no flush, no acknowledgement."""
    subject.worker.crash()
    _note(history, "worker.crash", subject=type(subject).__name__)


def restart_worker(subject: HasWorker, history: History | None = None) -> None:
    subject.worker.start()
    _note(history, "worker.start", subject=type(subject).__name__)


@contextlib.contextmanager
def redis_crashed(server: ControllableServer, history: History | None = None) -> Iterator[None]:
    """The server is killed for the duration of the block, then restarted."""
    crash_redis(server, history)
    try:
        yield
    finally:
        restart_redis(server, history)


@contextlib.contextmanager
def redis_paused(server: ControllableServer, history: History | None = None) -> Iterator[None]:
    """The server is stopped (SIGSTOP) for the duration of the block, then resumed."""
    pause_redis(server, history)
    try:
        yield
    finally:
        resume_redis(server, history)


@contextlib.contextmanager
def worker_crashed(subject: HasWorker, history: History | None = None) -> Iterator[None]:
    """The subject's worker is crashed for the duration of the block, then restarted."""
    crash_worker(subject, history)
    try:
        yield
    finally:
        restart_worker(subject, history)
