"""Fixtures of the chaos tests: an embedded Toxiproxy per session (per xdist worker), a proxy
in front of the session's real Redis server, raw sockets and a TCP echo server.

The toxic and data-path tests use `selected_toxiproxy`: whatever `--cachecheck-toxiproxy`
selects (a real `toxiproxy-server` when one is on PATH), so they prove the behaviour of the
server actually in use. API-shape tests that need the embedded server's internals use
`toxiproxy_server`.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest
import redis
from chaos_helpers import redis_client as plain_client

from cachecheck._redis_server import RedisHandle
from cachecheck._settings import CachecheckSettings
from cachecheck.chaos import (
    EmbeddedToxiproxy,
    Proxy,
    ToxiproxyClient,
    ToxiproxyHandle,
    start_toxiproxy,
)
from cachecheck.chaos._fixtures import upstream_of


@pytest.fixture(scope="session")
def toxiproxy_server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=1234) as server:
        yield server


@pytest.fixture(scope="session")
def selected_toxiproxy(
    cachecheck_settings: CachecheckSettings, toxiproxy_server: EmbeddedToxiproxy
) -> Iterator[ToxiproxyHandle]:
    probe = start_toxiproxy(cachecheck_settings.toxiproxy, seed=1234)
    if probe.kind == "embedded":
        # Same kind as the session's embedded server: use that one, so that API-shape tests
        # and toxic tests share one server and one cleanup.
        probe.stop()
        probe = start_toxiproxy(toxiproxy_server.api_url, seed=1234)
    handle = probe
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def toxiproxy(selected_toxiproxy: ToxiproxyHandle) -> Iterator[ToxiproxyClient]:
    """A client of the selected server; every proxy is deleted after the test."""
    client = ToxiproxyClient(selected_toxiproxy.api_url)
    yield client
    for proxy in client.proxies().values():
        proxy.delete()
    client.close()


@pytest.fixture
def redis_proxy(toxiproxy: ToxiproxyClient, cachecheck_redis_server: RedisHandle) -> Proxy:
    """A proxy named "redis" in front of the session's Redis server."""
    return toxiproxy.create_proxy("redis", upstream_of(cachecheck_redis_server.url))


@pytest.fixture
def redis_client(redis_proxy: Proxy) -> Iterator[Callable[..., redis.Redis]]:
    """Make redis-py clients through the proxy (no retries, explicit timeouts), connected
    (one PING) before they are returned, so that tests time commands, not handshakes."""
    made: list[redis.Redis] = []

    def make(**overrides: object) -> redis.Redis:
        url = f"redis://{redis_proxy.host}:{redis_proxy.port}/0"
        # 2 s timeouts: long enough for a loaded 2-core machine, short enough that a fault
        # shows as one error rather than a stall.
        client = plain_client(url, **overrides)
        made.append(client)
        client.ping()
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def connect() -> Iterator[Callable[[Proxy], socket.socket]]:
    """Open raw TCP connections to a proxy (closed after the test)."""
    opened: list[socket.socket] = []

    def open_(proxy: Proxy, timeout: float = 2.0) -> socket.socket:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
        opened.append(sock)
        return sock

    yield open_
    for sock in opened:
        sock.close()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="session")
def echo_address() -> Iterator[str]:
    """host:port of a TCP echo server on loopback."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def echo_proxy(toxiproxy: ToxiproxyClient, echo_address: str) -> Proxy:
    return toxiproxy.create_proxy("echo", echo_address)
