"""The Docker provider (testcontainers RedisContainer). Needs a Docker engine: skipped with the
reason when none answers; the error without one is checked everywhere."""

from __future__ import annotations

import pytest

from cachecheck._client import make_client
from cachecheck._config import parse_redis_spec
from cachecheck._errors import ProvisionError
from cachecheck._providers import docker_engine, start_redis


def test_without_an_engine_the_docker_provider_says_so() -> None:
    engine = docker_engine()
    if engine.usable:
        pytest.skip("a Docker engine answers here; the no-engine message cannot be observed")
    with pytest.raises(ProvisionError, match=r"Docker engine|testcontainers"):
        start_redis(parse_redis_spec("docker"))


@pytest.mark.docker
def test_redis_in_a_container() -> None:
    engine = docker_engine()
    if not engine.usable:
        pytest.skip(f"needs a Docker engine: {engine.detail}")
    server = start_redis(parse_redis_spec("docker:redis:7-alpine"))
    try:
        client = make_client(server.url)
        client.set("k", "v")
        assert client.get("k") == "v"
    finally:
        server.stop()
