"""The proxy's data path moves bytes intact, in order, under back-pressure, on the fast path
(no active toxic) and the slow path (a toxic on the link), for many connections at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest
from chaos_helpers import recv_all

from cachecheck.chaos import Proxy

Connect = Callable[..., socket.socket]
SIZE = 8 * 1024 * 1024  # far beyond every buffer on the way: exercises pause/resume


def pump(sock: socket.socket, payload: bytes) -> bytes:
    """Send `payload` from a thread while reading the echo, so that both directions block."""
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    data, _ = recv_all(sock, len(payload), timeout=20)
    sender.join()
    return data


@pytest.mark.parametrize("toxic", [None, "latency"], ids=["fast-path", "slow-path"])
def test_large_transfer_arrives_intact(
    echo_proxy: Proxy, connect: Connect, toxic: str | None
) -> None:
    if toxic is not None:
        for stream in ("upstream", "downstream"):
            echo_proxy.add_toxic(toxic, stream=stream, latency=0)
    payload = bytes(i * 7 % 251 for i in range(65_536)) * (SIZE // 65_536)
    assert pump(connect(echo_proxy, timeout=20), payload) == payload


def test_many_connections_at_once(redis_proxy: Proxy, connect: Connect) -> None:
    socks = [connect(redis_proxy) for _ in range(40)]
    for sock in socks:
        sock.sendall(b"PING\r\n")
    assert all(sock.recv(100) == b"+PONG\r\n" for sock in socks)


def test_client_half_close_closes_both_sides(echo_proxy: Proxy, connect: Connect) -> None:
    """A FIN from the client ends in a full close (Toxiproxy does not keep half-open links)."""
    sock = connect(echo_proxy)
    sock.sendall(b"hello")
    assert recv_all(sock, 5)[0] == b"hello"
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(10) == b""
