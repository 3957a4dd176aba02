"""Process faults on real servers and workers, the injector, and playing schedules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis
from chaos_helpers import redis_client

from cachecheck._history import History
from cachecheck._redis_server import RedisServer
from cachecheck.chaos import (
    Crash,
    FaultSchedule,
    Injector,
    Latency,
    Pause,
    Proxy,
    ScheduledFault,
    WorkerCrash,
    crash_redis,
    play,
    redis_paused,
    restart_redis,
    worker_crashed,
)

ServerFactory = Callable[..., RedisServer]


class ThreadWorker:
    """A background worker that a crash stops without any cleanup."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._stop.wait, daemon=True)
        self._thread.start()

    def crash(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class SubjectWithWorker:
    def __init__(self) -> None:
        self.worker = ThreadWorker()
        self.worker.start()


def test_crash_loses_nothing_with_aof_always_and_is_recorded(
    cachecheck_redis_factory: ServerFactory,
) -> None:
    server = cachecheck_redis_factory(persistence="aof:always")
    history = History()
    with redis_client(server.url) as client:
        client.set("k", "v")
        crash_redis(server, history)
        with pytest.raises(redis.ConnectionError):
            client.ping()
    restart_redis(server, history)
    with redis_client(server.url) as client:
        assert client.get("k") == "v"
    assert [(e.name, e.detail["persistence"]) for e in history.events] == [
        ("redis.crash", "aof:always"),
        ("redis.restart", "aof:always"),
    ]


def test_pause_times_clients_out_until_resumed(cachecheck_redis_factory: ServerFactory) -> None:
    server = cachecheck_redis_factory()
    history = History()
    # 0.5 s: ample for a local PING on a loaded machine, short while paused.
    with redis_client(server.url, timeout=0.5) as client:
        client.ping()
        with redis_paused(server, history), pytest.raises(redis.TimeoutError):
            client.ping()
    with redis_client(server.url) as client:
        assert client.ping()
    assert [e.name for e in history.events] == ["redis.pause", "redis.resume"]


def test_worker_crash_and_restart() -> None:
    subject = SubjectWithWorker()
    history = History()
    with worker_crashed(subject, history):
        assert not subject.worker.is_alive()
    assert subject.worker.is_alive()
    assert [e.name for e in history.events] == ["worker.crash", "worker.start"]


def test_injector_routes_each_fault_to_its_target(
    cachecheck_redis_factory: ServerFactory, redis_proxy: Proxy
) -> None:
    server = cachecheck_redis_factory()
    subject = SubjectWithWorker()
    history = History()
    injector = Injector(proxy=redis_proxy, server=server, subject=subject, history=history)
    with injector.active(Latency(1), Pause(), WorkerCrash()):
        assert server.paused and not subject.worker.is_alive()
        assert [t.name for t in redis_proxy.toxics()] == ["latency_downstream"]
    assert not server.paused and subject.worker.is_alive() and redis_proxy.toxics() == []
    with injector.active(Crash()):
        assert not server.running
    assert server.running
    with pytest.raises(ValueError, match="no target"):
        Injector(proxy=redis_proxy).active(Crash()).__enter__()


def test_play_applies_faults_in_order_for_their_duration(redis_proxy: Proxy) -> None:
    history = History()
    schedule = FaultSchedule(
        (
            ScheduledFault(0, 100, Latency(1)),
            ScheduledFault(150, 100, Latency(2)),
        )
    )
    started = time.monotonic()
    assert play(schedule, Injector(proxy=redis_proxy, history=history)) == 2
    assert time.monotonic() - started >= 0.25 - 0.005  # waits never end early
    assert [e.name for e in history.events] == ["fault.start", "fault.stop"] * 2
    assert history.events[2].detail["faults"] == ["Latency(ms=2)"]
    assert redis_proxy.toxics() == []


def test_play_stops_when_asked(redis_proxy: Proxy) -> None:
    stop = threading.Event()
    stop.set()
    schedule = FaultSchedule((ScheduledFault(0, 10_000, Latency(1)),))
    assert play(schedule, Injector(proxy=redis_proxy), stop=stop) == 0
