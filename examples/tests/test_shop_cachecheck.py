"""cachecheck on the shop's cache layer, plugged in exactly as the README describes.

`make_subject` builds the app's real `ProductService` (its `@cached` read path and its write
path) on cachecheck's Redis client. As source of truth it gets an adapter that keeps each
product's name in cachecheck's database, which records every commit for the checkers; the
adapter implements the same `ProductRepository` protocol as the app's SQL repository.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from shop.cache import ProductCache
from shop.planted_bugs import StaleFillCache, TtlDroppingCache
from shop.repository import ProductData, Versioned
from shop.service import ProductService

from cachecheck import (
    Contract,
    Database,
    FunctionSubject,
    ModelConfig,
    RunnerConfig,
    TtlPolicy,
    World,
    run_model,
)
from cachecheck.suite import CacheSuite

PRICE = 1999

#: What the shop's cache promises: a client sees its own writes, reads are never stale once a
#: write has completed, the cache converges, and every entry expires within 5 minutes.
CONTRACT = Contract(
    name="shop.products",
    read_your_writes=True,
    staleness_bound=0.0,
    converges=True,
    ttl=TtlPolicy(max_seconds=300),
)


class WorldProducts:
    """The `ProductRepository` protocol over cachecheck's database (one value per key: the
    product's name, so every write cachecheck makes is a unique, traceable value)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self, product_id: str) -> Versioned:
        row = self.database.read_row(product_id)
        if row is None:
            return Versioned(0, None)
        product = None if row.value is None else ProductData(product_id, row.value, PRICE)
        return Versioned(row.version, product)

    def save(self, product: ProductData) -> int:
        return self.database.write(product.id, product.name)

    def delete(self, product_id: str) -> int:
        return self.database.delete(product_id)


def product_subject(world: World, cache_class: type[ProductCache] = ProductCache) -> Any:
    """The shop's service on cachecheck's world, as a subject: get/set/delete by product id."""
    cache = cache_class(world.client(), prefix=world.namespace + "shop:")
    service = ProductService(WorldProducts(world.database), cache)

    def read(product_id: str) -> str | None:
        product = service.get_product(product_id)
        return None if product is None else product.name

    def write(product_id: str, name: str) -> None:
        service.put_product(ProductData(product_id, name, PRICE))

    return FunctionSubject(read, write, service.delete_product, name="shop.products")


class TestProductCache(CacheSuite):
    """The shop's product cache: versioned compare-and-set entries with a TTL."""

    contract = CONTRACT
    settings = settings(max_examples=20, stateful_step_count=12, deadline=None)
    runner_config = RunnerConfig(clients=3, duration=0.5)

    def make_subject(self, world: World) -> Any:
        return product_subject(world)


#: Derandomized, so every run explores the same examples and finds each bug the same way.
FIND = settings(max_examples=2000, stateful_step_count=8, deadline=None, derandomize=True,
                database=None)  # fmt: skip
#: The stale fill needs a miss racing a write on one key: one key, misses made by evictions.
RACES = ModelConfig(keys=("k0",), clients=("c0", "c1"), time_travel=False)
STALE = {"convergence", "staleness", "bounded_staleness", "read_your_writes"}


@pytest.mark.parametrize(
    ("cache_class", "config", "expected"),
    [
        (StaleFillCache, RACES, STALE),
        (TtlDroppingCache, ModelConfig(interleavings=False), {"ttl_hygiene", "ttl_bounded"}),
    ],
    ids=["stale-fill", "ttl-dropped-on-update"],
)
def test_cachecheck_finds_the_planted_bug(
    cachecheck_world: World,
    cache_class: type[ProductCache],
    config: ModelConfig,
    expected: set[str],
) -> None:
    """The same model that passes the fixed cache fails each buggy variant, with a short
    replayable counterexample naming the broken promise."""
    outcome = run_model(cachecheck_world, lambda w: product_subject(w, cache_class), CONTRACT,
                        config, settings=FIND)  # fmt: skip
    assert not outcome.passed
    assert outcome.properties_violated & expected, outcome.violation
    assert outcome.counterexample.startswith("state = ")
    assert outcome.counterexample_steps is not None and outcome.counterexample_steps <= 8
