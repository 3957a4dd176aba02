"""A started server against the real binary: start, kill, pause/resume, restart and what
persistence keeps across a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from cachecheck._client import ClientSettings, make_client
from cachecheck._errors import ProvisionError
from cachecheck._redis_server import RedisServer, pid_alive

FAST = ClientSettings(socket_timeout=0.3, connect_timeout=0.3)


def test_started_server_binds_loopback_and_reports_itself(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory()
    client = make_client(server.url, FAST)
    assert client.ping()
    assert server.host == "127.0.0.1"
    assert client.config_get("bind")["bind"].split()[0] == "127.0.0.1"
    assert server.flavour in ("redis", "valkey")
    assert server.version[0].isdigit()
    described = server.describe()
    assert described["owned"] is True
    assert described["persistence"]["mode"] == "none"
    assert server.data_dir.is_dir()
    client.close()


def test_kill_makes_the_server_unreachable(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory()
    pid = server.pid
    assert pid is not None
    server.kill()
    assert not pid_alive(pid) or not server.running
    with pytest.raises(redis.ConnectionError):
        make_client(server.url, FAST).ping()
    with pytest.raises(ProvisionError, match="not running"):
        server.pause()


def test_pause_times_out_clients_and_resume_recovers(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory()
    client = make_client(server.url, FAST)
    client.set("k", "v")
    server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.get("k")
    finally:
        server.resume()
    # A timed-out connection is dropped by redis-py; the next command reconnects.
    assert make_client(server.url, FAST).get("k") == "v"
    client.close()


def test_restart_with_aof_always_keeps_acknowledged_writes(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory(persistence="aof:always")
    client = make_client(server.url, FAST)
    for i in range(200):
        client.set(f"k{i}", str(i))
    port = server.port
    server.kill()
    server.restart()
    assert server.port == port
    survivor = make_client(server.url, FAST)
    assert survivor.dbsize() == 200
    assert survivor.get("k199") == "199"
    survivor.close()
    client.close()


def test_restart_without_persistence_loses_writes(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory(persistence="none")
    make_client(server.url, FAST).set("k", "v")
    server.kill()
    server.restart()
    assert make_client(server.url, FAST).dbsize() == 0


def test_maxmemory_settings_reach_the_server(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory(maxmemory="32mb", maxmemory_policy="allkeys-lru")
    config = make_client(server.url, FAST).config_get("maxmemory*")
    assert config["maxmemory"] == str(32 * 1024 * 1024)
    assert config["maxmemory-policy"] == "allkeys-lru"


def test_stop_removes_process_and_data_dir(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    server = cachecheck_redis_factory()
    pid, data_dir = server.pid, server.data_dir
    server.stop()
    server.stop()  # idempotent
    assert pid is not None and not pid_alive(pid)
    assert not data_dir.exists()


def test_a_binary_that_is_not_redis_is_refused() -> None:
    with pytest.raises(ProvisionError, match="does not look like a Redis"):
        RedisServer("/bin/echo")


def test_a_server_that_cannot_start_says_why(
    cachecheck_redis_factory: Callable[..., RedisServer],
) -> None:
    with pytest.raises(ProvisionError, match="exited with code"):
        cachecheck_redis_factory(extra_args=("--no-such-option", "1"))


def test_world_revives_a_server_a_previous_test_killed(
    cachecheck_world: object, cachecheck_redis_server: object
) -> None:
    # Kill the session server; the next test's world fixture must restart it.
    assert isinstance(cachecheck_redis_server, RedisServer)
    cachecheck_redis_server.kill()


def test_after_kill_the_next_world_has_a_running_server(cachecheck_redis: redis.Redis) -> None:
    assert cachecheck_redis.ping()
