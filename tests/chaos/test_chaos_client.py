"""The typed client, fault values and presets, against the embedded server."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
from chaos_helpers import elapsed

from cachecheck._history import History
from cachecheck.chaos import (
    Bandwidth,
    Direction,
    Down,
    Latency,
    LimitData,
    Proxy,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
    ToxiproxyBadRequest,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    blackhole,
    cut,
    partition,
    slow_link,
)

RedisFactory = Callable[..., redis.Redis]


def test_version_and_errors_carry_status_and_message(
    toxiproxy: ToxiproxyClient, redis_proxy: Proxy
) -> None:
    assert toxiproxy.version() == "2.12.0"
    with pytest.raises(ToxiproxyNotFound) as missing:
        toxiproxy.proxy("nope")
    assert (missing.value.status, missing.value.message) == (404, "proxy not found")
    with pytest.raises(ToxiproxyConflict, match="proxy already exists"):
        toxiproxy.create_proxy("redis", "127.0.0.1:1")
    with pytest.raises(ToxiproxyBadRequest, match="invalid toxic type"):
        redis_proxy.add_toxic("nope")


def test_unreachable_api_is_a_toxiproxy_error_with_status_zero() -> None:
    client = ToxiproxyClient("http://127.0.0.1:9", timeout=1)
    with pytest.raises(ToxiproxyError) as failed:
        client.version()
    assert failed.value.status == 0
    assert not client.answers()


def test_proxy_handle_reports_and_updates_itself(toxiproxy: ToxiproxyClient) -> None:
    proxy = toxiproxy.create_proxy("p", "127.0.0.1:1", enabled=False, listen="127.0.0.1:0")
    assert (proxy.enabled, proxy.listen) == (False, "127.0.0.1:0")
    proxy.enable()
    assert proxy.enabled and proxy.port > 0 and proxy.host == "127.0.0.1"
    assert toxiproxy.proxies()["p"].listen == proxy.listen
    toxic = proxy.add_toxic("latency", latency=5)
    assert toxic.update(jitter=2).attributes == {"latency": 5, "jitter": 2}
    assert proxy.toxic("latency_downstream").attributes["jitter"] == 2
    proxy.clear()
    assert proxy.toxics() == [] and proxy.refresh().enabled


def test_fault_values_become_toxics() -> None:
    assert [s.body() for s in Latency(100, jitter_ms=10).toxics()] == [
        {
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {"latency": 100, "jitter": 10},
        }
    ]
    both = Timeout(0, stream=Direction.BOTH, name="t").toxics()
    assert [(s.toxic_name, s.stream) for s in both] == [
        ("t_upstream", "upstream"),
        ("t_downstream", "downstream"),
    ]
    assert Bandwidth(0).toxics()[0].attributes == {"rate": 0}
    assert SlowClose(5).toxics()[0].attributes == {"delay": 5}
    assert ResetPeer().toxics()[0].attributes == {"timeout": 0}
    assert LimitData(3).toxics()[0].attributes == {"bytes": 3}
    assert Slicer(8, 2, delay_us=5).toxics()[0].attributes == {
        "average_size": 8,
        "size_variation": 2,
        "delay": 5,
    }
    assert Down().toxics() == ()
    assert repr(Latency(100, stream=Direction.BOTH)) == "Latency(ms=100, stream=Direction.BOTH)"


def test_fault_values_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="int >= 0"):
        Latency(-1)
    with pytest.raises(ValueError, match="toxicity"):
        Latency(1, toxicity=2.0)
    with pytest.raises(ValueError, match="size_variation"):
        Slicer(4, 4)
    with pytest.raises(TypeError, match="Direction"):
        Latency(1, stream="upstream")  # type: ignore[arg-type]


def test_presets_have_their_documented_toxics() -> None:
    def shape(faults: tuple[object, ...]) -> list[tuple[str, str, dict[str, int]]]:
        return [
            (s.type, s.stream, dict(s.attributes))
            for f in faults
            for s in f.toxics()  # type: ignore[attr-defined]
        ]

    assert shape(cut()) == [
        ("bandwidth", "upstream", {"rate": 0}),
        ("bandwidth", "downstream", {"rate": 0}),
    ]
    assert shape(blackhole()) == [
        ("timeout", "upstream", {"timeout": 0}),
        ("timeout", "downstream", {"timeout": 0}),
    ]
    assert shape(partition(Direction.DOWNSTREAM, close_after_ms=50)) == [
        ("timeout", "downstream", {"timeout": 50}),
    ]
    assert [t for t, _, _ in shape(slow_link(20, kb_per_s=10))] == ["latency"] * 2 + [
        "bandwidth"
    ] * 2


def test_fault_context_applies_then_lifts_and_records(
    redis_proxy: Proxy, redis_client: RedisFactory
) -> None:
    history = History()
    client = redis_client()
    with redis_proxy.fault(Latency(300, stream=Direction.UPSTREAM), history=history):
        assert [t.name for t in redis_proxy.toxics()] == ["latency_upstream"]
        assert elapsed(client.ping) >= 0.3 - 0.005
    assert redis_proxy.toxics() == []
    assert [e.name for e in history.events] == ["fault.start", "fault.stop"]
    assert history.events[0].detail["faults"] == ["Latency(ms=300, stream=Direction.UPSTREAM)"]


def test_fault_context_lifts_even_when_the_block_fails(redis_proxy: Proxy) -> None:
    def fail_inside() -> None:
        with redis_proxy.fault(blackhole(), Down()):
            assert not redis_proxy.refresh().enabled
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert redis_proxy.toxics() == [] and redis_proxy.refresh().enabled


def test_fault_context_rolls_back_a_partial_apply(redis_proxy: Proxy) -> None:
    redis_proxy.add_toxic("latency", name="taken")
    with (
        pytest.raises(ToxiproxyConflict),
        redis_proxy.fault(Timeout(0), Latency(1, name="taken")),
    ):
        pass  # pragma: no cover
    assert [t.name for t in redis_proxy.toxics()] == ["taken"]
    with pytest.raises(ValueError, match="same name"):
        redis_proxy.fault(Latency(1), Latency(2)).__enter__()


def test_cut_holds_requests_and_delivers_them_when_lifted(
    redis_proxy: Proxy, redis_client: RedisFactory
) -> None:
    """Under `cut`, a command stalls; once lifted, the held command completes."""
    client = redis_client(socket_timeout=5)
    result: list[object] = []
    with redis_proxy.fault(cut()):
        worker = threading.Thread(target=lambda: result.append(client.ping()))
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and result == []
    worker.join(5)
    assert result == [True]


def test_client_is_safe_to_share_between_threads(toxiproxy: ToxiproxyClient) -> None:
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(20):
                assert toxiproxy.version() == "2.12.0"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
