"""Parsing and validation of cachecheck's settings (options, ini keys, environment).

Every parser raises `ConfigError` whose message names the setting and the accepted forms.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from cachecheck._errors import ConfigError

REDIS_FORMS = (
    "auto, binary, binary:PATH, docker, docker:IMAGE, or a redis://, rediss:// or unix:// URL"
)
PERSISTENCE_FORMS = "none, rdb, aof, aof:always, aof:everysec or aof:no"
TOXIPROXY_FORMS = (
    "auto, embedded, binary, binary:PATH, docker, docker:IMAGE, or an http://host:port URL"
)


class RedisProviderKind(enum.Enum):
    AUTO = "auto"
    BINARY = "binary"
    DOCKER = "docker"
    URL = "url"


@dataclass(frozen=True, slots=True)
class RedisSpec:
    """Where the Redis server comes from. `argument` is the PATH, IMAGE or URL, if any."""

    kind: RedisProviderKind
    argument: str | None = None

    def __str__(self) -> str:
        if self.kind is RedisProviderKind.URL:
            return str(self.argument)
        return str(self.kind.value) + (f":{self.argument}" if self.argument else "")


def parse_redis_spec(text: str, *, setting: str = "--cachecheck-redis") -> RedisSpec:
    """Parse `auto`, `binary[:PATH]`, `docker[:IMAGE]` or a Redis URL."""
    value = text.strip()
    if value in ("", "auto"):
        return RedisSpec(RedisProviderKind.AUTO)
    scheme = urlparse(value).scheme
    if scheme in ("redis", "rediss", "unix"):
        _check_redis_url(value, setting)
        return RedisSpec(RedisProviderKind.URL, value)
    head, _, rest = value.partition(":")
    if head in ("binary", "docker"):
        if _ and not rest:
            raise ConfigError(f"{setting}={text!r}: nothing after '{head}:'. Use {REDIS_FORMS}.")
        return RedisSpec(RedisProviderKind(head), rest or None)
    raise ConfigError(f"{setting}={text!r} is not understood. Use {REDIS_FORMS}.")


def _check_redis_url(value: str, setting: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme == "unix":
        if not parsed.path:
            raise ConfigError(f"{setting}={value!r}: a unix:// URL needs a socket path")
        return
    if not parsed.hostname:
        raise ConfigError(
            f"{setting}={value!r}: the URL has no host; e.g. redis://127.0.0.1:6379/0"
        )
    try:
        _ = parsed.port
    except ValueError as exc:
        raise ConfigError(f"{setting}={value!r}: bad port ({exc})") from None


class Persistence(enum.Enum):
    NONE = "none"
    RDB = "rdb"
    AOF = "aof"


class Fsync(enum.Enum):
    ALWAYS = "always"
    EVERYSEC = "everysec"
    NO = "no"


@dataclass(frozen=True, slots=True)
class PersistenceSpec:
    """How a started Redis server persists data; decides what survives a crash."""

    mode: Persistence = Persistence.NONE
    appendfsync: Fsync = Fsync.EVERYSEC

    def __str__(self) -> str:
        if self.mode is Persistence.AOF:
            return f"aof:{self.appendfsync.value}"
        return str(self.mode.value)

    def server_args(self) -> list[str]:
        """Command-line arguments for redis-server / valkey-server."""
        if self.mode is Persistence.NONE:
            return ["--save", "", "--appendonly", "no"]
        if self.mode is Persistence.RDB:
            # Snapshot often so tests see RDB behaviour within seconds.
            return ["--save", "1 1", "--appendonly", "no"]
        return [
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync.value,
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "appendfsync": self.appendfsync.value if self.mode is Persistence.AOF else None,
        }


def parse_persistence(
    text: str, *, setting: str = "--cachecheck-redis-persistence"
) -> PersistenceSpec:
    value = text.strip().lower()
    head, sep, rest = value.partition(":")
    try:
        mode = Persistence(head)
    except ValueError:
        raise ConfigError(
            f"{setting}={text!r} is not understood. Use {PERSISTENCE_FORMS}."
        ) from None
    if mode is not Persistence.AOF:
        if sep:
            raise ConfigError(
                f"{setting}={text!r}: only aof takes an fsync mode. Use {PERSISTENCE_FORMS}."
            )
        return PersistenceSpec(mode)
    try:
        fsync = Fsync(rest) if sep else Fsync.EVERYSEC
    except ValueError:
        raise ConfigError(
            f"{setting}={text!r}: fsync mode must be always, everysec or no."
        ) from None
    return PersistenceSpec(mode, fsync)


class ProxyProviderKind(enum.Enum):
    AUTO = "auto"
    EMBEDDED = "embedded"
    BINARY = "binary"
    DOCKER = "docker"
    URL = "url"


@dataclass(frozen=True, slots=True)
class ToxiproxySpec:
    kind: ProxyProviderKind
    argument: str | None = None

    def __str__(self) -> str:
        if self.kind is ProxyProviderKind.URL:
            return str(self.argument)
        return str(self.kind.value) + (f":{self.argument}" if self.argument else "")


def parse_toxiproxy_spec(text: str, *, setting: str = "--cachecheck-toxiproxy") -> ToxiproxySpec:
    value = text.strip()
    if value in ("", "auto"):
        return ToxiproxySpec(ProxyProviderKind.AUTO)
    if value == "embedded":
        return ToxiproxySpec(ProxyProviderKind.EMBEDDED)
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname or parsed.port is None:
            raise ConfigError(
                f"{setting}={text!r}: the URL needs a host and port, e.g. http://127.0.0.1:8474"
            )
        return ToxiproxySpec(ProxyProviderKind.URL, value.rstrip("/"))
    head, sep, rest = value.partition(":")
    if head in ("binary", "docker"):
        if sep and not rest:
            raise ConfigError(
                f"{setting}={text!r}: nothing after '{head}:'. Use {TOXIPROXY_FORMS}."
            )
        return ToxiproxySpec(ProxyProviderKind(head), rest or None)
    raise ConfigError(f"{setting}={text!r} is not understood. Use {TOXIPROXY_FORMS}.")


def parse_seconds(text: str, *, setting: str, allow_zero: bool = False) -> float:
    """A positive number of seconds (or zero, when allowed)."""
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigError(f"{setting}={text!r} is not a number of seconds, e.g. 0.5") from None
    if (
        seconds != seconds
        or seconds < 0
        or (seconds == 0 and not allow_zero)
        or seconds == float("inf")
    ):
        need = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{setting}={text!r}: seconds must be finite and {need}")
    return seconds


def parse_count(text: str, *, setting: str, minimum: int = 0) -> int:
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"{setting}={text!r} is not a whole number") from None
    if count < minimum:
        raise ConfigError(f"{setting}={text!r}: must be >= {minimum}")
    return count


def parse_protocol(text: str, *, setting: str = "--cachecheck-redis-protocol") -> int:
    if text.strip() not in ("2", "3"):
        raise ConfigError(f"{setting}={text!r}: the RESP protocol must be 2 or 3")
    return int(text)


def parse_maxmemory(text: str, *, setting: str = "--cachecheck-redis-maxmemory") -> str:
    """A Redis memory size: digits with an optional unit (b, kb, mb, gb, k, m, g)."""
    value = text.strip().lower()
    digits = value.rstrip("kmgb")
    unit = value[len(digits) :]
    if not digits.isdigit() or unit not in ("", "b", "k", "kb", "m", "mb", "g", "gb"):
        raise ConfigError(f"{setting}={text!r}: use a size such as 64mb, 1gb or 1048576")
    return value


MAXMEMORY_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


def parse_maxmemory_policy(
    text: str, *, setting: str = "--cachecheck-redis-maxmemory-policy"
) -> str:
    value = text.strip().lower()
    if value not in MAXMEMORY_POLICIES:
        raise ConfigError(f"{setting}={text!r}: use one of {', '.join(MAXMEMORY_POLICIES)}")
    return value


def parse_db_url(text: str, *, setting: str = "--cachecheck-db") -> str | None:
    """`sqlite` / empty for the default SQLite file, else an SQLAlchemy URL."""
    value = text.strip()
    if value in ("", "sqlite", "default"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"{setting}={text!r} is not an SQLAlchemy URL; e.g. sqlite:///path/db.sqlite or "
            "postgresql+psycopg://user@127.0.0.1:5432/db"
        ) from None
    return value
