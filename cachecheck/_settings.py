"""All of cachecheck's settings in one place, resolved from options, environment and ini.

Precedence: command-line option, then environment variable, then ini key, then default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachecheck._client import ClientSettings
from cachecheck._config import (
    PersistenceSpec,
    RedisSpec,
    ToxiproxySpec,
    parse_count,
    parse_db_url,
    parse_maxmemory,
    parse_maxmemory_policy,
    parse_persistence,
    parse_protocol,
    parse_redis_spec,
    parse_seconds,
    parse_toxiproxy_spec,
)
from cachecheck._redis_server import ServerOptions


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its option, ini key and environment variable share one name."""

    name: str
    default: str | None
    help: str
    is_flag: bool = False

    @property
    def option(self) -> str:
        return "--cachecheck-" + self.name

    @property
    def ini(self) -> str:
        return "cachecheck_" + self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "CACHECHECK_" + self.name.replace("-", "_").upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "redis",
        "auto",
        "Redis to test against: auto, binary[:PATH], docker[:IMAGE], or a "
        "redis://, rediss://, unix:// URL of a server you run.",
    ),
    Setting(
        "redis-persistence",
        "none",
        "Persistence of started servers: none, rdb, aof[:always|everysec|no].",
    ),
    Setting("redis-maxmemory", None, "maxmemory of started servers, e.g. 64mb."),
    Setting(
        "redis-maxmemory-policy", None, "maxmemory-policy of started servers, e.g. allkeys-lru."
    ),
    Setting("startup-timeout", "10", "Seconds to wait for a started server to answer PING."),
    Setting(
        "socket-timeout",
        "1.0",
        "Socket timeout (seconds) of every redis-py client cachecheck makes.",
    ),
    Setting("connect-timeout", "1.0", "Connect timeout (seconds) of every redis-py client."),
    Setting("retries", "0", "Retries of every redis-py client (0: a fault shows as one error)."),
    Setting("redis-protocol", "3", "RESP protocol version of redis-py clients: 2 or 3."),
    Setting("db", "sqlite", "Source-of-truth database: sqlite (a temp file) or an SQLAlchemy URL."),
    Setting(
        "allow-flush",
        None,
        "Allow FLUSHDB and table reuse on a Redis or database cachecheck did not create.",
        is_flag=True,
    ),
    Setting(
        "toxiproxy",
        "auto",
        "Fault proxy: auto, embedded, binary[:PATH], docker[:IMAGE], or "
        "an http://host:port URL of a running Toxiproxy.",
    ),
)


@dataclass(frozen=True)
class CachecheckSettings:
    """Resolved, validated settings."""

    redis: RedisSpec = field(default_factory=lambda: parse_redis_spec("auto"))
    server: ServerOptions = field(default_factory=ServerOptions)
    client: ClientSettings = field(default_factory=ClientSettings)
    db_url: str | None = None
    allow_flush: bool = False
    toxiproxy: ToxiproxySpec = field(default_factory=lambda: parse_toxiproxy_spec("auto"))

    def describe(self) -> dict[str, Any]:
        return {
            "redis": str(self.redis),
            "server": self.server.describe(),
            "client": self.client.describe(),
            "db": self.db_url or "sqlite",
            "allow_flush": self.allow_flush,
            "toxiproxy": str(self.toxiproxy),
        }


def resolve_settings(lookup: Callable[[Setting], str | None]) -> CachecheckSettings:
    """Build settings from `lookup`, which returns a setting's raw text or None (default).

    Raises `ConfigError` naming the first bad setting.
    """

    def raw(name: str) -> str:
        setting = _by_name(name)
        value = lookup(setting)
        return setting.default or "" if value is None else value

    def opt(name: str) -> str:
        return _by_name(name).option

    persistence: PersistenceSpec = parse_persistence(
        raw("redis-persistence"), setting=opt("redis-persistence")
    )
    maxmemory = raw("redis-maxmemory")
    policy = raw("redis-maxmemory-policy")
    server = ServerOptions(
        persistence=persistence,
        maxmemory=parse_maxmemory(maxmemory, setting=opt("redis-maxmemory")) if maxmemory else None,
        maxmemory_policy=parse_maxmemory_policy(policy, setting=opt("redis-maxmemory-policy"))
        if policy
        else None,
        startup_timeout=parse_seconds(raw("startup-timeout"), setting=opt("startup-timeout")),
    )
    client = ClientSettings(
        socket_timeout=parse_seconds(raw("socket-timeout"), setting=opt("socket-timeout")),
        connect_timeout=parse_seconds(raw("connect-timeout"), setting=opt("connect-timeout")),
        retries=parse_count(raw("retries"), setting=opt("retries")),
        protocol=parse_protocol(raw("redis-protocol"), setting=opt("redis-protocol")),
    )
    return CachecheckSettings(
        redis=parse_redis_spec(raw("redis"), setting=opt("redis")),
        server=server,
        client=client,
        db_url=parse_db_url(raw("db"), setting=opt("db")),
        allow_flush=_parse_flag(raw("allow-flush"), opt("allow-flush")),
        toxiproxy=parse_toxiproxy_spec(raw("toxiproxy"), setting=opt("toxiproxy")),
    )


def _by_name(name: str) -> Setting:
    for setting in SETTINGS:
        if setting.name == name:
            return setting
    raise KeyError(name)


def _parse_flag(text: str, setting: str) -> bool:
    value = text.strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    from cachecheck._errors import ConfigError

    raise ConfigError(f"{setting}={text!r}: use true/false (1/0, yes/no, on/off)")


def settings_from_env(environ: dict[str, str] | None = None) -> CachecheckSettings:
    """Settings from `CACHECHECK_*` environment variables only (for the CLI and libraries)."""
    import os

    env = dict(os.environ) if environ is None else environ
    return resolve_settings(lambda setting: env.get(setting.env))
