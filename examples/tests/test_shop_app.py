"""The shop's HTTP API end to end: Starlette, SQLAlchemy on SQLite, and the real Redis
server the cachecheck plugin starts (`cachecheck_redis`, keys under the test's namespace)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from shop.app import create_app
from shop.cache import ProductCache
from shop.repository import SqlProductRepository
from shop.service import ProductService
from sqlalchemy import create_engine, event
from sqlalchemy.pool import StaticPool
from starlette.applications import Starlette

from cachecheck import World


class Http:
    """A synchronous face of httpx's ASGI transport, on one event loop per test."""

    def __init__(self, app: Starlette) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop.test"
        )

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **options))

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def delete(self, url: str) -> httpx.Response:
        return self.request("DELETE", url)

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()


@pytest.fixture
def queries() -> list[str]:
    return []


@pytest.fixture
def client(
    cachecheck_world: World, cachecheck_redis: redis.Redis, queries: list[str]
) -> Iterator[Http]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    event.listen(engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    service = ProductService(
        SqlProductRepository(engine),
        ProductCache(cachecheck_redis, prefix=cachecheck_world.namespace + "shop:"),
    )
    http = Http(create_app(service))
    yield http
    http.close()
    engine.dispose()


def test_a_product_round_trips(client: Http) -> None:
    assert client.get("/products/p1").status_code == 404
    put = client.put("/products/p1", json={"name": "mug", "price": 1200})
    assert put.status_code == 200 and put.json()["version"] == 1
    assert client.get("/products/p1").json() == {"id": "p1", "name": "mug", "price": 1200}
    client.put("/products/p1", json={"name": "big mug", "price": 1500})
    assert client.get("/products/p1").json()["name"] == "big mug"


def test_reads_are_served_from_the_cache(client: Http, queries: list[str]) -> None:
    client.put("/products/p2", json={"name": "plate", "price": 900})
    queries.clear()
    for _ in range(3):
        assert client.get("/products/p2").status_code == 200
    assert not [q for q in queries if q.lstrip().upper().startswith("SELECT")]


def test_a_deleted_product_is_gone_at_once(client: Http) -> None:
    client.put("/products/p3", json={"name": "bowl", "price": 700})
    assert client.get("/products/p3").status_code == 200
    assert client.delete("/products/p3").status_code == 204
    assert client.get("/products/p3").status_code == 404


def test_bad_input_is_rejected(client: Http) -> None:
    assert client.put("/products/p4", json={"name": "cup"}).status_code == 422
