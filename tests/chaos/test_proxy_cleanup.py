"""No socket, task or thread outlives what it belongs to: a deleted proxy, a /reset, a
server shutdown. Sockets are counted as this process's open file descriptors."""

from __future__ import annotations

import os
import socket
import threading

from chaos_helpers import wait_until

from cachecheck._redis_server import RedisHandle
from cachecheck.chaos import EmbeddedToxiproxy, ToxiproxyClient
from cachecheck.chaos._fixtures import upstream_of

PING = b"PING\r\n"


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def connect_and_ping(host: str, port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=3)
        sock.sendall(PING)
        assert sock.recv(100) == b"+PONG\r\n"
        socks.append(sock)
    return socks


def test_delete_reset_and_shutdown_leave_nothing_behind(
    cachecheck_redis_server: RedisHandle,
) -> None:
    before, threads = open_fds(), set(threading.enumerate())
    server = EmbeddedToxiproxy(seed=0).start()
    client = ToxiproxyClient(server.api_url)
    upstream = upstream_of(cachecheck_redis_server.url)

    # Connections with active toxics in both directions: one runner task per link.
    proxy = client.create_proxy("redis", upstream)
    proxy.add_toxic("latency", latency=1)
    proxy.add_toxic("latency", stream="upstream", latency=1)
    socks = connect_and_ping(proxy.host, proxy.port, 4)
    stats = server.stats()
    assert (stats.connections, stats.link_tasks) == (4, 8)

    proxy.delete()  # closes the listener and every connection at once
    assert all(sock.recv(10) == b"" for sock in socks)
    idle = server.stats()
    assert (idle.proxies, idle.connections, idle.link_tasks) == (0, 0, 0)
    assert idle.tasks == idle.http_connections  # only the API connection's task is left

    # /reset: removing a timeout toxic closes the connections that carried it.
    proxy = client.create_proxy("redis", upstream)
    socks += connect_and_ping(proxy.host, proxy.port, 3)
    proxy.add_toxic("timeout", timeout=0)
    client.reset()
    assert wait_until(lambda: server.stats().connections == 0)
    assert server.stats().tasks == idle.tasks

    for sock in socks:
        sock.close()
    client.close()
    server.stop()
    assert set(threading.enumerate()) <= threads  # the server's thread has ended
    assert wait_until(lambda: open_fds() <= before), open_fds() - before


def test_stopping_the_server_closes_busy_connections(cachecheck_redis_server: RedisHandle) -> None:
    """Shutdown with data held in a toxic: clients see the close, every socket is released."""
    before = open_fds()
    with EmbeddedToxiproxy(seed=0) as server, ToxiproxyClient(server.api_url) as client:
        proxy = client.create_proxy("redis", upstream_of(cachecheck_redis_server.url))
        proxy.add_toxic("latency", latency=10_000)
        sock = socket.create_connection((proxy.host, proxy.port), timeout=3)
        sock.sendall(PING)  # the reply is held for 10 s
        assert wait_until(lambda: server.stats().link_tasks == 1)
    assert sock.recv(10) == b""
    sock.close()
    assert wait_until(lambda: open_fds() <= before), open_fds() - before
