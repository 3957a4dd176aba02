"""Building blocks of the plugin's fault-proxy fixtures, as plain functions (no pytest here).

The plugin wires them as: a session-scoped server (`start_session_toxiproxy`), a proxy named
"redis" in front of the session's Redis (`proxy_redis`), `attach_proxy(world, proxy)` so that
`world.client()` goes through it, and `reset_faults` before each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from cachecheck._config import ProxyProviderKind, ToxiproxySpec, parse_toxiproxy_spec
from cachecheck._errors import ProvisionError
from cachecheck._redis_server import RedisHandle

from ._client import Proxy, ToxiproxyConflict
from ._provision import BINARY_NAME, ToxiproxyHandle, start_embedded_process, start_toxiproxy

if TYPE_CHECKING:
    from cachecheck._world import World


def start_session_toxiproxy(spec: ToxiproxySpec | str, *, seed: int | None = 0) -> ToxiproxyHandle:
    """The session's Toxiproxy server, per `--cachecheck-toxiproxy` (one per xdist worker).

    The embedded server runs in a child process here (see `start_embedded_process`); a real
    `toxiproxy-server` on PATH still wins under `auto`.
    """
    spec = parse_toxiproxy_spec(spec) if isinstance(spec, str) else spec
    wants_embedded = spec.kind is ProxyProviderKind.EMBEDDED or (
        spec.kind is ProxyProviderKind.AUTO and shutil.which(BINARY_NAME) is None
    )
    if wants_embedded:
        return start_embedded_process(seed=seed)
    return start_toxiproxy(spec, seed=seed)


def proxy_name(worker_id: str | None = None, base: str = "redis") -> str:
    """`redis`, or `redis-gw0` under xdist, so that workers sharing a user-run server do not
    take each other's proxy."""
    return base if worker_id in (None, "", "master") else f"{base}-{worker_id}"


def proxy_redis(
    handle: ToxiproxyHandle, server: RedisHandle | str, *, name: str = "redis"
) -> Proxy:
    """A proxy in front of `server` (a Redis handle or URL), listening on a free loopback port.

    A stale proxy of the same name (left by a killed run on a user-run server) is replaced.
    """
    upstream = upstream_of(server if isinstance(server, str) else server.url)
    try:
        return handle.client.create_proxy(name, upstream, listen="127.0.0.1:0")
    except ToxiproxyConflict:
        handle.client.proxy(name).delete()
        return handle.client.create_proxy(name, upstream, listen="127.0.0.1:0")


def upstream_of(url: str) -> str:
    """`host:port` of a redis:// or rediss:// URL; a unix socket cannot go through a TCP proxy."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ProvisionError(
            f"the fault proxy forwards TCP; {url!r} is not a redis:// URL with a host. "
            "Use a TCP Redis server to run chaos tests."
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 6379}"


def proxied_url(url: str, proxy: Proxy) -> str:
    """`url` with its host and port replaced by the proxy's (user, password, db, query kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    netloc = f"{userinfo}@{host}:{proxy.port}" if userinfo else f"{host}:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def attach_proxy(world: World, proxy: Proxy) -> None:
    """Route `world.client()` through `proxy`; `world.admin_client()` still goes direct."""
    world.redis_url = proxied_url(world.redis_server.url, proxy)
    world.proxy = proxy


def reset_faults(handle: ToxiproxyHandle, proxies: Iterable[Proxy] = ()) -> None:
    """Clear every fault before a test: `POST /reset` on a server cachecheck owns; on a
    user-run server (maybe shared), only `proxies` are cleared (toxics removed, enabled)."""
    if handle.owned:
        handle.client.reset()
        return
    for proxy in proxies:
        proxy.clear()
