"""Never destroy data cachecheck did not write: a Redis the user runs keeps its keys."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cachecheck._client import make_client
from cachecheck._config import parse_redis_spec
from cachecheck._database import Database
from cachecheck._errors import UnsafeResetError
from cachecheck._redis_server import RedisServer
from cachecheck._world import World

pytest_plugins = ["pytester"]


@pytest.fixture
def users_redis(cachecheck_redis_factory: Callable[..., RedisServer]) -> RedisServer:
    """A server standing in for one the user runs, holding the user's own data."""
    server = cachecheck_redis_factory()
    client = make_client(server.url)
    client.set("user:1", "alice")
    client.set("orders:7", "pending")
    client.close()
    return server


def _external_world(url: str, *, allow_flush: bool = False) -> World:
    return World.start(parse_redis_spec(url), allow_flush=allow_flush)


def test_reset_deletes_only_its_own_prefix(users_redis: RedisServer) -> None:
    with _external_world(users_redis.url) as world:
        assert not world.redis_server.owned
        client = world.client()
        client.set(world.namespace + "a", "1")
        client.set(world.namespace + "b", "2")
        world.reset()
        assert client.get(world.namespace + "a") is None
        assert client.get("user:1") == "alice"
        assert client.dbsize() == 2


def test_refuses_to_flush_a_non_empty_external_redis(users_redis: RedisServer) -> None:
    with _external_world(users_redis.url) as world:
        with pytest.raises(UnsafeResetError, match="--cachecheck-allow-flush"):
            world.keyspace.flush()
        assert world.client().get("orders:7") == "pending"


def test_allow_flush_is_an_explicit_opt_in(users_redis: RedisServer) -> None:
    with _external_world(users_redis.url, allow_flush=True) as world:
        world.keyspace.flush()
        assert world.client().dbsize() == 0


def test_closing_an_external_world_leaves_the_server_running(users_redis: RedisServer) -> None:
    _external_world(users_redis.url).close()
    assert users_redis.running
    assert make_client(users_redis.url).get("user:1") == "alice"


def test_plugin_session_on_external_redis_keeps_user_keys(
    pytester: pytest.Pytester, users_redis: RedisServer
) -> None:
    pytester.makepyfile(
        """
        def test_write(cachecheck_world, cachecheck_redis):
            assert not cachecheck_world.redis_server.owned
            cachecheck_redis.set(cachecheck_world.namespace + "x", "1", px=60000)

        def test_next(cachecheck_world, cachecheck_redis):
            assert cachecheck_redis.get(cachecheck_world.namespace + "x") is None
            assert cachecheck_redis.get("user:1") == "alice"
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:valkey", f"--cachecheck-redis={users_redis.url}"
    )
    result.assert_outcomes(passed=2)
    assert make_client(users_redis.url).get("orders:7") == "pending"


def test_external_database_tables_are_unique_per_handle(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    first, second = Database(url), Database(url)
    try:
        assert first.items.name != second.items.name
        first.write("k", "a")
        second.reset()
        assert first.read("k") == "a"
    finally:
        first.close()
        second.close()
