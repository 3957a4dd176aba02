"""The World: the real components one test runs against.

A Redis server (started or external), the clients that talk to it (through the fault proxy
when one is attached), the source-of-truth database, a clock and a history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from cachecheck._client import ClientSettings, make_client
from cachecheck._clock import Clock, OffsetClock
from cachecheck._config import RedisSpec, parse_redis_spec
from cachecheck._database import Database
from cachecheck._errors import ProvisionError
from cachecheck._history import History
from cachecheck._interleave import IoPoints, instrument
from cachecheck._keyspace import Keyspace
from cachecheck._providers import start_redis
from cachecheck._redis_server import RedisHandle, RedisServer, ServerOptions


@dataclass
class World:
    """Everything a cache under test runs on. Build one with `World.start()` or use the
    `cachecheck_world` fixture."""

    redis_server: RedisHandle
    database: Database
    settings: ClientSettings = field(default_factory=ClientSettings)
    clock: Clock = field(default_factory=OffsetClock)
    allow_flush: bool = False
    #: URL clients use; the proxy's listen address when a fault proxy is attached.
    redis_url: str = ""
    proxy: Any = None

    def __post_init__(self) -> None:
        if not self.redis_url:
            self.redis_url = self.redis_server.url
        self.history = History(self.clock)
        self._admin = make_client(self.redis_server.url, self.settings)
        self.keyspace = Keyspace(
            self._admin, owned=self.redis_server.owned, allow_flush=self.allow_flush
        )
        self._clients: list[redis.Redis] = []
        #: I/O points of every client handed out and of the database (see `_interleave`).
        self.io = IoPoints()
        self.database.hooks.io = self.io

    @classmethod
    def start(
        cls,
        redis: str | RedisSpec = "auto",
        *,
        db_url: str | None = None,
        options: ServerOptions | None = None,
        settings: ClientSettings | None = None,
        clock: Clock | None = None,
        allow_flush: bool = False,
    ) -> World:
        """Start (or connect to) Redis and the database; `close()` tears both down."""
        spec = parse_redis_spec(redis) if isinstance(redis, str) else redis
        clock = clock or OffsetClock()
        server = start_redis(spec, options)
        try:
            database = Database(db_url, clock=clock, allow_reset=allow_flush)
        except BaseException:
            server.stop()
            raise
        return cls(server, database, settings or ClientSettings(), clock, allow_flush)

    @property
    def namespace(self) -> str:
        """The key prefix every subject must write under."""
        return self.keyspace.prefix

    @property
    def server(self) -> RedisServer:
        """The started server, for process faults; fails clearly for an external one."""
        if not isinstance(self.redis_server, RedisServer):
            raise ProvisionError(
                "process faults (kill, pause, restart) need a server cachecheck started; "
                f"this world uses {self.redis_server!r}"
            )
        return self.redis_server

    def client(self, **overrides: Any) -> redis.Redis:
        """A new client with the world's settings, through the fault proxy when attached."""
        client = instrument(make_client(self.redis_url, self.settings, **overrides), self.io)
        self._clients.append(client)
        return client

    def admin_client(self) -> redis.Redis:
        """A client that bypasses the fault proxy, for inspection and resets."""
        return self._admin

    def reset(self) -> None:
        """A clean slate: this run's Redis keys, the database rows, the history."""
        self.keyspace.reset()
        self.database.reset()
        self.history.clear()

    def close_clients(self) -> None:
        """Close the clients handed out by `client()` (the server and database stay up)."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    def close(self) -> None:
        """Close clients, drop or remove the database, stop the server if cachecheck started it."""
        self.close_clients()
        self._admin.close()
        try:
            self.database.close()
        finally:
            self.redis_server.stop()

    def describe(self) -> dict[str, Any]:
        return {
            "redis": self.redis_server.describe(),
            "client": self.settings.describe(),
            "database": self.database.describe(),
            "namespace": self.namespace,
            "proxy": None
            if self.proxy is None
            else getattr(self.proxy, "describe", lambda: str(self.proxy))(),
        }

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
