"""The plugin's building blocks: a proxy in front of the session Redis, a World routed
through it, per-test reset; and the public API's exports."""

from __future__ import annotations

import types

import pytest

import cachecheck.chaos as chaos
from cachecheck._errors import ProvisionError
from cachecheck._world import World
from cachecheck.chaos import (
    EmbeddedToxiproxy,
    Latency,
    ToxiproxyClient,
    attach_proxy,
    proxied_url,
    proxy_name,
    proxy_redis,
    reset_faults,
    start_toxiproxy,
)


def test_world_clients_go_through_the_proxy_and_admin_does_not(
    toxiproxy_server: EmbeddedToxiproxy, toxiproxy: ToxiproxyClient, cachecheck_world: World
) -> None:
    handle = start_toxiproxy(toxiproxy_server.api_url)  # the session server, as a URL
    proxy = proxy_redis(handle, cachecheck_world.redis_server, name="redis")
    attach_proxy(cachecheck_world, proxy)
    assert cachecheck_world.redis_url == f"redis://127.0.0.1:{proxy.port}/0"
    assert cachecheck_world.describe()["proxy"]["name"] == "redis"
    client = cachecheck_world.client()
    key = f"{cachecheck_world.namespace}k"
    client.set(key, "v")
    with proxy.down():
        with pytest.raises(Exception, match="111"):
            client.get(key)
        assert cachecheck_world.admin_client().get(key) == "v"
    assert cachecheck_world.client().get(key) == "v"
    handle.stop()


def test_reset_faults_resets_owned_servers_and_only_given_proxies_otherwise(
    toxiproxy_server: EmbeddedToxiproxy, toxiproxy: ToxiproxyClient
) -> None:
    mine = toxiproxy.create_proxy("mine", "127.0.0.1:9")
    other = toxiproxy.create_proxy("other", "127.0.0.1:9")
    for proxy in (mine, other):
        proxy.add_toxic("latency", latency=1)
        proxy.disable()
    shared = start_toxiproxy(toxiproxy_server.api_url)  # not owned: be polite
    reset_faults(shared, [mine])
    assert mine.refresh().enabled and mine.toxics() == []
    assert not other.refresh().enabled and len(other.toxics()) == 1
    with start_toxiproxy("embedded") as owned:
        proxy = owned.client.create_proxy("p", "127.0.0.1:9")
        proxy.add_toxic("timeout")
        reset_faults(owned)
        assert proxy.toxics() == []


def test_a_stale_proxy_of_the_same_name_is_replaced(toxiproxy: ToxiproxyClient) -> None:
    with start_toxiproxy("embedded") as handle:
        first = proxy_redis(handle, "redis://127.0.0.1:6390/0")
        first.add_toxic("latency", latency=1)
        second = proxy_redis(handle, "redis://127.0.0.1:6391/0")
        assert second.upstream == "127.0.0.1:6391" and second.toxics() == []


def test_urls_and_names() -> None:
    with start_toxiproxy("embedded") as handle:
        proxy = handle.client.create_proxy("p", "127.0.0.1:9")
        assert proxied_url("redis://:secret@example:6379/3?x=1", proxy) == (
            f"redis://:secret@127.0.0.1:{proxy.port}/3?x=1"
        )
        with pytest.raises(ProvisionError, match="TCP"):
            proxy_redis(handle, "unix:///tmp/redis.sock")
    assert (proxy_name(None), proxy_name("master"), proxy_name("gw1")) == (
        "redis",
        "redis",
        "redis-gw1",
    )


def test_fault_values_work_through_a_world(
    toxiproxy: ToxiproxyClient, cachecheck_world: World
) -> None:
    with start_toxiproxy("embedded") as handle:
        proxy = proxy_redis(handle, cachecheck_world.redis_server)
        attach_proxy(cachecheck_world, proxy)
        with proxy.fault(Latency(5), history=cachecheck_world.history):
            assert cachecheck_world.client().ping()
        assert [e.name for e in cachecheck_world.history.events] == ["fault.start", "fault.stop"]
        cachecheck_world.close_clients()


def test_public_api_is_exactly_all() -> None:
    public = {
        name
        for name, value in vars(chaos).items()
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, types.ModuleType)
    }
    assert sorted(chaos.__all__) == sorted(public)
    assert chaos.__all__ == sorted(chaos.__all__, key=lambda n: (not n.isupper(), n))
