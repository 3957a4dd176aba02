"""The embedded Toxiproxy-compatible server: in a background thread, or in the foreground.

```python
with EmbeddedToxiproxy(seed=1) as server:
    client = ToxiproxyClient(server.api_url)
    proxy = client.create_proxy("redis", upstream="127.0.0.1:6379")
```

All randomness (latency jitter, toxicity rolls, slicer sizes) comes from one
`random.Random(seed)`: an extension, since real Toxiproxy ignores `-seed` since 2.9. Rolls
happen in the order connections and chain changes reach the server, so a run replays exactly
when that order does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeVar

from cachecheck._errors import ProvisionError

from ._api import Api
from ._collection import ProxyCollection
from ._http import HttpServer

T = TypeVar("T")

DEFAULT_API_PORT = 8474


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What an embedded server holds right now (for leak checks and reports)."""

    proxies: int
    listening: int
    connections: int
    link_tasks: int
    http_connections: int
    tasks: int


class _Core:
    """The server's state and its HTTP API, on one event loop."""

    def __init__(self, seed: int | None) -> None:
        self.rng = random.Random(seed)
        self.collection = ProxyCollection(self.rng)
        self.http = HttpServer(Api(self.collection))

    async def start(self, host: str, port: int) -> tuple[str, int]:
        return await self.http.start(host, port)

    async def stop(self) -> None:
        self.collection.shutdown()
        await self.http.close()
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def stats(self) -> ServerStats:
        proxies = list(self.collection)
        connections = [conn for proxy in proxies for conn in proxy.connections]
        runners = sum(
            1 for conn in connections for link in conn.links or () if link.runner is not None
        )
        return ServerStats(
            proxies=len(proxies),
            listening=sum(1 for proxy in proxies if proxy.enabled),
            connections=len(connections),
            link_tasks=runners,
            http_connections=self.http.connection_count,
            tasks=len(asyncio.all_tasks()),
        )


class EmbeddedToxiproxy:
    """A Toxiproxy-compatible server running in a background thread with its own event loop.

    Args:
        host: API address; loopback by default.
        port: API port; 0 picks a free one (see `api_url` after `start()`).
        seed: seeds the server's random generator (jitter, toxicity, slicer sizes).

    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int | None = 0) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self._core: _Core | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def api_url(self) -> str:
        if self._thread is None:
            raise ProvisionError("the embedded Toxiproxy server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server thread; returns once the API listens."""
        if self._thread is not None:
            raise ProvisionError("the embedded Toxiproxy server is already started")
        self._core = _Core(self.seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="cachecheck-toxiproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            error, self._error = self._error, None
            self.stop()
            raise ProvisionError(
                f"the embedded Toxiproxy server could not listen on {self.host}:{self.port}: "
                f"{error or 'timed out'}"
            ) from error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every proxy and connection, stop the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive() and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None
        self._ready.clear()

    def reseed(self, seed: int | None) -> None:
        """Re-seed the server's random generator (e.g. per test, from Hypothesis)."""
        self.call(lambda core: core.rng.seed(seed))

    def stats(self) -> ServerStats:
        """Counts of proxies, connections and asyncio tasks on the server's loop."""
        return self.call(lambda core: core.stats())

    def call(self, function: Callable[[_Core], T], timeout: float = 10.0) -> T:
        """Run `function(core)` on the server's loop thread and return its result."""
        loop, core = self._loop, self._core
        if loop is None or core is None or not self.running:
            raise ProvisionError("the embedded Toxiproxy server is not running")
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(function(core))
            except BaseException as exc:
                result.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return result.result(timeout)

    def _run(self) -> None:
        loop, core = self._loop, self._core
        assert loop is not None and core is not None
        asyncio.set_event_loop(loop)
        try:
            self.host, self.port = loop.run_until_complete(core.start(self.host, self.port))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            _close_loop(loop)
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(core.stop())
            _close_loop(loop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.api_url} running" if self.running else "stopped"
        return f"<EmbeddedToxiproxy {state} seed={self.seed!r}>"


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    asyncio.set_event_loop(None)
    loop.close()


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_API_PORT,
    seed: int | None = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the embedded server in the foreground until SIGINT or SIGTERM.

    This is what `cachecheck toxiproxy --host 127.0.0.1 --port 8474` runs. `on_ready` gets the
    API URL once it listens (by default it is printed to stderr).
    """
    asyncio.run(_serve(host, port, seed, on_ready or _announce))


async def _serve(host: str, port: int, seed: int | None, on_ready: Callable[[str], None]) -> None:
    core = _Core(seed)
    bound_host, bound_port = await core.start(host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stopping.set)  # main thread only
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    on_ready(f"http://{shown}:{bound_port}")
    try:
        await stopping.wait()
    finally:
        await core.stop()


def _announce(url: str) -> None:
    print(f"cachecheck embedded Toxiproxy API listening on {url}", file=sys.stderr, flush=True)
