"""Every toxic, through the embedded proxy, against a real Redis server or a TCP echo server.

Timing tolerances (2 shared cores, xdist, Redis and the proxy thread all competing):

- Lower bounds allow EARLY = 5 ms. The proxy stamps a chunk when it receives it (after the
  client sent it) and asyncio timers never fire before their deadline, so a toxic's delay
  can only be observed longer, never shorter; 5 ms covers clock granularity between threads.
- Upper bounds allow LATE = 1.5 s. Scheduling delays only ever add time, so a generous upper
  bound costs no sensitivity: a missing toxic fails the lower bound.
- "Fast" means under half the toxic's delay, with delays of 600 ms or more, so that a loaded
  machine has 300 ms of room for a round trip that normally takes well under 1 ms.
"""

from __future__ import annotations

import itertools
import random
import socket
import threading
import time
from collections.abc import Callable

import pytest
import redis
from chaos_helpers import elapsed, recv_all

from cachecheck._redis_server import RedisHandle
from cachecheck.chaos import EmbeddedToxiproxy, Proxy, ToxiproxyClient
from cachecheck.chaos._fixtures import upstream_of
from cachecheck.chaos._pipes import slice_bounds

EARLY = 0.005
LATE = 1.5
PING = b"PING\r\n"
PONG = b"+PONG\r\n"

Connect = Callable[..., socket.socket]
RedisFactory = Callable[..., redis.Redis]


def ping_raw(sock: socket.socket) -> bytes:
    sock.sendall(PING)
    return sock.recv(100)


# -- latency ---------------------------------------------------------------------------------


def test_latency_delays_every_reply_on_an_open_connection(
    redis_proxy: Proxy, redis_client: RedisFactory
) -> None:
    """A latency toxic added mid-connection delays the next replies by its latency."""
    client = redis_client()
    assert client.ping()
    redis_proxy.add_toxic("latency", latency=200)
    for _ in range(2):
        assert 0.2 - EARLY <= elapsed(client.ping) < 0.2 + LATE


def test_latency_on_both_streams_adds_up(redis_proxy: Proxy, redis_client: RedisFactory) -> None:
    """Latency is one-way: an upstream and a downstream toxic make a round trip of both."""
    client = redis_client()
    redis_proxy.add_toxic("latency", stream="upstream", latency=120)
    redis_proxy.add_toxic("latency", stream="downstream", latency=120)
    assert 0.24 - EARLY <= elapsed(client.ping) < 0.24 + LATE


def test_stacked_latency_toxics_add_up(redis_proxy: Proxy, redis_client: RedisFactory) -> None:
    """Two latency toxics on one stream add up (the timestamp moves by each sleep)."""
    client = redis_client()
    redis_proxy.add_toxic("latency", name="a", latency=120)
    redis_proxy.add_toxic("latency", name="b", latency=120)
    assert 0.24 - EARLY <= elapsed(client.ping) < 0.24 + LATE


def test_jitter_spreads_delays_within_latency_plus_minus_jitter(
    cachecheck_redis_server: RedisHandle,
) -> None:
    """Delays lie in [latency - jitter, latency + jitter) and vary (own seeded server, so the
    draws are the same on every run)."""
    with EmbeddedToxiproxy(seed=7) as server, ToxiproxyClient(server.api_url) as client:
        proxy = client.create_proxy("redis", upstream_of(cachecheck_redis_server.url))
        proxy.add_toxic("latency", latency=100, jitter=60)
        with socket.create_connection((proxy.host, proxy.port), timeout=3) as sock:
            delays = [elapsed(lambda: ping_raw(sock)) for _ in range(8)]
    assert min(delays) >= 0.04 - EARLY
    assert max(delays) < 0.16 + LATE
    assert max(delays) - min(delays) > 0.02  # 8 uniform draws over 120 ms never all this close


def test_toxicity_zero_never_applies_and_one_always_does(
    redis_proxy: Proxy, redis_client: RedisFactory
) -> None:
    """Toxicity is rolled per connection (and again when the toxic changes): 0 never applies
    the toxic, 1 always does."""
    client = redis_client()
    toxic = redis_proxy.add_toxic("latency", latency=600, toxicity=0.0)
    assert elapsed(client.ping) < 0.3
    toxic.update(toxicity=1.0)
    assert elapsed(client.ping) >= 0.6 - EARLY


# -- down, timeout, reset_peer ---------------------------------------------------------------


def test_down_refuses_new_connections_and_closes_open_ones(
    redis_proxy: Proxy, connect: Connect, redis_client: RedisFactory
) -> None:
    """A disabled proxy closes its connections (EOF) and refuses new ones (ECONNREFUSED)."""
    sock = connect(redis_proxy)
    assert ping_raw(sock) == PONG
    with redis_proxy.down():
        assert sock.recv(100) == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((redis_proxy.host, redis_proxy.port), timeout=2)
        with pytest.raises(redis.ConnectionError, match="111"):
            redis_client().ping()
    assert ping_raw(connect(redis_proxy)) == PONG


def test_disable_keeps_toxics_and_enable_reuses_the_port(redis_proxy: Proxy) -> None:
    redis_proxy.add_toxic("latency", latency=1)
    port = redis_proxy.port
    assert redis_proxy.disable().enabled is False
    assert [t.name for t in redis_proxy.toxics()] == ["latency_downstream"]
    assert redis_proxy.enable().port == port


def test_timeout_drops_data_and_closes_after_silence(redis_proxy: Proxy, connect: Connect) -> None:
    """timeout > 0: the reply is dropped and the connection closed `timeout` ms later."""
    sock = connect(redis_proxy)
    redis_proxy.add_toxic("timeout", timeout=300)
    started = time.perf_counter()
    assert ping_raw(sock) == b""
    assert 0.3 - EARLY <= time.perf_counter() - started < 0.3 + LATE


def test_timeout_zero_stalls_and_removal_closes(redis_proxy: Proxy, connect: Connect) -> None:
    """timeout 0 drops data forever; removing it closes the connection (its stream is corrupt)."""
    sock = connect(redis_proxy)
    toxic = redis_proxy.add_toxic("timeout", timeout=0)
    sock.sendall(PING)
    sock.settimeout(0.4)
    with pytest.raises(TimeoutError):
        sock.recv(100)
    toxic.remove()
    sock.settimeout(2)
    assert sock.recv(100) == b""


def test_reset_peer_resets_connections_opened_while_it_exists(
    redis_proxy: Proxy, connect: Connect, redis_client: RedisFactory
) -> None:
    """reset_peer drops the first reply, waits `timeout` ms, then resets: ECONNRESET."""
    redis_proxy.add_toxic("reset_peer", timeout=100)
    sock = connect(redis_proxy)
    started = time.perf_counter()
    sock.sendall(PING)
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    assert time.perf_counter() - started >= 0.1 - EARLY
    with pytest.raises(redis.ConnectionError, match="reset by peer"):
        redis_client().ping()


def test_reset_peer_added_mid_connection_closes_with_fin(
    redis_proxy: Proxy, connect: Connect
) -> None:
    """Linger 0 is set at connection start only, so an older connection gets EOF, not RST."""
    sock = connect(redis_proxy)
    assert ping_raw(sock) == PONG
    redis_proxy.add_toxic("reset_peer", timeout=0)
    assert ping_raw(sock) == b""


def test_unreachable_upstream_accepts_then_closes(toxiproxy: ToxiproxyClient) -> None:
    """A failed dial closes the client after accept: EOF, not a refused connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed below: nothing listens there
    proxy = toxiproxy.create_proxy("dead", f"127.0.0.1:{dead}")
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as sock:
        assert sock.recv(100) == b""


# -- bandwidth, slicer, limit_data, slow_close ---------------------------------------------


def test_bandwidth_limits_the_rate(echo_proxy: Proxy, connect: Connect) -> None:
    """100 KB/s downstream: 50 000 bytes take at least 0.5 s (timers never fire early)."""
    echo_proxy.add_toxic("bandwidth", rate=100)
    sock = connect(echo_proxy, timeout=5)
    payload = bytes(range(256)) * 195 + b"x" * 80  # 50 000 bytes
    started = time.perf_counter()
    sock.sendall(payload)
    data, _ = recv_all(sock, len(payload))
    assert data == payload
    assert 0.5 - 0.05 <= time.perf_counter() - started < 0.5 + LATE


def test_bandwidth_zero_holds_data_until_removed(redis_proxy: Proxy, connect: Connect) -> None:
    """rate 0 (the `cut` preset) holds data without dropping it; removal delivers it."""
    sock = connect(redis_proxy)
    toxic = redis_proxy.add_toxic("bandwidth", rate=0)
    sock.sendall(PING)
    sock.settimeout(0.4)
    with pytest.raises(TimeoutError):
        sock.recv(100)
    toxic.remove()
    sock.settimeout(2)
    assert sock.recv(100) == PONG


def test_slicer_splits_data_into_delayed_pieces(echo_proxy: Proxy, connect: Connect) -> None:
    """200 bytes sliced to ~12-byte pieces 10 ms apart: 16 pieces, the last one at least
    150 ms after the first; the client sees them in more than one read."""
    echo_proxy.add_toxic("slicer", average_size=20, size_variation=0, delay=10_000)
    sock = connect(echo_proxy, timeout=5)
    payload = bytes(range(200))
    started = time.perf_counter()
    sock.sendall(payload)
    data, reads = recv_all(sock, len(payload))
    assert data == payload
    assert time.perf_counter() - started >= 15 * 0.010 - EARLY
    assert reads > 1


def test_slice_bounds_cover_the_chunk_in_bounded_pieces() -> None:
    """Pieces are contiguous, in order, and at most average + variation bytes."""

    class _Rng:
        rng = random.Random(3)

    for size in (1, 7, 100, 4096):
        bounds = slice_bounds(size, 10, 4, _Rng())  # type: ignore[arg-type]
        assert bounds[0][0] == 0 and bounds[-1][1] == size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        assert all(0 < end - start <= 14 for start, end in bounds)


def test_limit_data_closes_after_n_bytes(echo_proxy: Proxy, connect: Connect) -> None:
    echo_proxy.add_toxic("limit_data", bytes=10)
    sock = connect(echo_proxy)
    sock.sendall(b"0123456789abcdefghij")
    data, _ = recv_all(sock, 20)
    assert data == b"0123456789"  # and then EOF
    assert sock.recv(10) == b""


def test_slow_close_delays_the_close(redis_proxy: Proxy, connect: Connect) -> None:
    """Redis answers QUIT and closes; the client sees the reply at once, the close later."""
    redis_proxy.add_toxic("slow_close", delay=300)
    sock = connect(redis_proxy)
    started = time.perf_counter()
    sock.sendall(b"QUIT\r\n")
    assert sock.recv(100) == b"+OK\r\n"
    assert sock.recv(100) == b""
    assert 0.3 - EARLY <= time.perf_counter() - started < 0.3 + LATE


# -- chain changes on live connections, reset -----------------------------------------------


def test_removing_a_toxic_releases_held_data_at_once(redis_proxy: Proxy, connect: Connect) -> None:
    """A reply held by a 3 s latency comes out as soon as the toxic is removed."""
    sock = connect(redis_proxy, timeout=5)
    toxic = redis_proxy.add_toxic("latency", latency=3000)
    started = time.perf_counter()
    sock.sendall(PING)
    threading.Timer(0.2, toxic.remove).start()
    assert sock.recv(100) == PONG
    assert 0.2 - EARLY <= time.perf_counter() - started < 2.0


def test_updating_a_toxic_releases_held_data_and_applies_new_values(
    redis_proxy: Proxy, connect: Connect
) -> None:
    sock = connect(redis_proxy, timeout=5)
    toxic = redis_proxy.add_toxic("latency", latency=3000)
    sock.sendall(PING)
    time.sleep(0.1)
    updated = toxic.update(latency=0)
    assert updated.attributes == {"latency": 0, "jitter": 0}
    assert elapsed(lambda: sock.recv(100)) < 2.0
    assert elapsed(lambda: ping_raw(sock)) < 0.3


def test_removing_the_last_toxic_makes_the_connection_fast_again(
    redis_proxy: Proxy, redis_client: RedisFactory
) -> None:
    client = redis_client()
    toxic = redis_proxy.add_toxic("latency", stream="upstream", latency=600)
    assert elapsed(client.ping) >= 0.6 - EARLY
    toxic.remove()
    assert elapsed(client.ping) < 0.3


def test_reset_enables_every_proxy_and_removes_every_toxic(
    toxiproxy: ToxiproxyClient, redis_proxy: Proxy, echo_proxy: Proxy, redis_client: RedisFactory
) -> None:
    redis_proxy.add_toxic("latency", latency=600)
    redis_proxy.add_toxic("timeout", stream="upstream", timeout=0)
    echo_proxy.disable()
    toxiproxy.reset()
    assert all(p.enabled and p.toxics() == [] for p in toxiproxy.proxies().values())
    assert elapsed(redis_client().ping) < 0.3


def test_appending_a_toxic_releases_what_the_last_one_held(
    redis_proxy: Proxy, connect: Connect
) -> None:
    """Toxiproxy interrupts the last toxic to re-point its output: the chunk it held goes
    straight out, skipping the new toxic; later chunks pass both."""
    sock = connect(redis_proxy, timeout=5)
    redis_proxy.add_toxic("latency", name="first", latency=3000)
    started = time.perf_counter()
    sock.sendall(PING)
    threading.Timer(
        0.2, lambda: redis_proxy.add_toxic("latency", name="second", latency=3000)
    ).start()
    assert sock.recv(100) == PONG
    assert 0.2 - EARLY <= time.perf_counter() - started < 2.0
