"""The official `toxiproxy-python` client (0.1.1) drives the embedded server: proof that the
API is what Toxiproxy clients expect. The client keeps its address in class attributes, so
the fixture points it at the server and restores it afterwards."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from cachecheck._redis_server import RedisHandle
from cachecheck.chaos import EmbeddedToxiproxy
from cachecheck.chaos._fixtures import upstream_of

toxiproxy = pytest.importorskip("toxiproxy", reason="toxiproxy-python is a dev dependency")


@pytest.fixture
def official(toxiproxy_server: EmbeddedToxiproxy) -> Iterator[object]:
    from toxiproxy.api import APIConsumer

    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = toxiproxy_server.host, toxiproxy_server.port
    server = toxiproxy.Toxiproxy()
    yield server
    server.destroy_all()
    APIConsumer.host, APIConsumer.port = saved


def ping(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(100)


def test_official_client_manages_proxies_and_toxics(
    official: toxiproxy.Toxiproxy, cachecheck_redis_server: RedisHandle
) -> None:
    assert official.running()
    assert official.version() == b'{"version": "2.12.0"}\n'
    proxy = official.create(upstream=upstream_of(cachecheck_redis_server.url), name="redis")
    host, port = proxy.listen.rsplit(":", 1)
    assert ping(host, int(port)) == b"+PONG\r\n"
    assert set(official.proxies()) == {"redis"}
    with pytest.raises(toxiproxy.exceptions.ProxyExists):
        official.create(upstream="127.0.0.1:1", name="redis")

    proxy.add_toxic(type="latency", attributes={"latency": 50, "jitter": 5})
    toxic = proxy.get_toxic("latency_downstream")
    assert (toxic.type, toxic.stream, toxic.attributes) == (
        "latency",
        "downstream",
        {"latency": 50, "jitter": 5},
    )
    with pytest.raises(toxiproxy.exceptions.InvalidToxic):
        proxy.add_toxic(type="nope")
    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}

    with proxy.down(), pytest.raises(ConnectionRefusedError):
        ping(host, int(port))
    assert ping(host, int(port)) == b"+PONG\r\n"

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    assert official.reset()
    assert proxy.toxics() == {}
    assert official.destroy(proxy)
    assert official.get_proxy("redis") is None
