"""Parsing of every setting: good forms accepted, bad ones rejected with a message that names
the setting and the accepted forms."""

from __future__ import annotations

import pytest

from cachecheck._config import (
    Fsync,
    Persistence,
    ProxyProviderKind,
    RedisProviderKind,
    parse_db_url,
    parse_maxmemory,
    parse_maxmemory_policy,
    parse_persistence,
    parse_redis_spec,
    parse_seconds,
    parse_toxiproxy_spec,
)
from cachecheck._errors import ConfigError
from cachecheck._settings import resolve_settings


@pytest.mark.parametrize(
    ("text", "kind", "argument"),
    [
        ("auto", RedisProviderKind.AUTO, None),
        ("", RedisProviderKind.AUTO, None),
        ("binary", RedisProviderKind.BINARY, None),
        ("binary:/usr/bin/redis-server", RedisProviderKind.BINARY, "/usr/bin/redis-server"),
        ("docker", RedisProviderKind.DOCKER, None),
        ("docker:redis:7", RedisProviderKind.DOCKER, "redis:7"),
        ("redis://127.0.0.1:6379/0", RedisProviderKind.URL, "redis://127.0.0.1:6379/0"),
        ("rediss://user:pw@host:6380", RedisProviderKind.URL, "rediss://user:pw@host:6380"),
        ("unix:///tmp/redis.sock", RedisProviderKind.URL, "unix:///tmp/redis.sock"),
    ],
)
def test_redis_spec_accepts_documented_forms(
    text: str, kind: RedisProviderKind, argument: str | None
) -> None:
    spec = parse_redis_spec(text)
    assert (spec.kind, spec.argument) == (kind, argument)


@pytest.mark.parametrize(
    "text",
    ["redis", "podman", "binary:", "docker:", "http://x:1", "redis://", "redis://h:notaport"],
)
def test_redis_spec_rejects_bad_forms_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--cachecheck-redis"):
        parse_redis_spec(text)


@pytest.mark.parametrize(
    ("text", "mode", "fsync"),
    [
        ("none", Persistence.NONE, Fsync.EVERYSEC),
        ("rdb", Persistence.RDB, Fsync.EVERYSEC),
        ("aof", Persistence.AOF, Fsync.EVERYSEC),
        ("aof:always", Persistence.AOF, Fsync.ALWAYS),
        ("AOF:no", Persistence.AOF, Fsync.NO),
    ],
)
def test_persistence_forms(text: str, mode: Persistence, fsync: Fsync) -> None:
    spec = parse_persistence(text)
    assert (spec.mode, spec.appendfsync) == (mode, fsync)


@pytest.mark.parametrize("text", ["aof:sometimes", "rdb:always", "disk", ""])
def test_persistence_rejects_bad_forms(text: str) -> None:
    with pytest.raises(ConfigError, match="persistence"):
        parse_persistence(text)


def test_persistence_server_args_match_mode() -> None:
    assert parse_persistence("aof:always").server_args()[-2:] == ["--appendfsync", "always"]
    assert "--appendonly" in parse_persistence("none").server_args()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("auto", ProxyProviderKind.AUTO),
        ("embedded", ProxyProviderKind.EMBEDDED),
        ("binary", ProxyProviderKind.BINARY),
        ("binary:/opt/toxiproxy-server", ProxyProviderKind.BINARY),
        ("docker", ProxyProviderKind.DOCKER),
        ("http://127.0.0.1:8474", ProxyProviderKind.URL),
    ],
)
def test_toxiproxy_spec_forms(text: str, kind: ProxyProviderKind) -> None:
    assert parse_toxiproxy_spec(text).kind is kind


@pytest.mark.parametrize("text", ["http://127.0.0.1", "ftp://x:1", "toxi", "binary:"])
def test_toxiproxy_spec_rejects_bad_forms(text: str) -> None:
    with pytest.raises(ConfigError, match="--cachecheck-toxiproxy"):
        parse_toxiproxy_spec(text)


@pytest.mark.parametrize("text", ["-1", "0", "abc", "nan", "inf"])
def test_seconds_reject_non_positive_and_non_numbers(text: str) -> None:
    with pytest.raises(ConfigError, match="--x"):
        parse_seconds(text, setting="--x")


def test_maxmemory_and_policy() -> None:
    assert parse_maxmemory("64MB") == "64mb"
    with pytest.raises(ConfigError, match="size"):
        parse_maxmemory("lots")
    assert parse_maxmemory_policy("allkeys-lru") == "allkeys-lru"
    with pytest.raises(ConfigError, match="noeviction"):
        parse_maxmemory_policy("lru")


def test_db_url() -> None:
    assert parse_db_url("sqlite") is None
    assert (
        parse_db_url("postgresql+psycopg://u@127.0.0.1/db") == "postgresql+psycopg://u@127.0.0.1/db"
    )
    with pytest.raises(ConfigError, match="SQLAlchemy URL"):
        parse_db_url("not a url")


def test_resolve_settings_defaults_fail_fast_clients() -> None:
    settings = resolve_settings(lambda _setting: None)
    assert settings.client.retries == 0
    assert settings.client.socket_timeout == 1.0
    assert settings.redis.kind is RedisProviderKind.AUTO
    assert not settings.allow_flush


def test_resolve_settings_names_the_bad_setting() -> None:
    values = {"retries": "-3"}
    with pytest.raises(ConfigError, match="--cachecheck-retries"):
        resolve_settings(lambda s: values.get(s.name))
