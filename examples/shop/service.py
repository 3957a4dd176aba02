"""Reads and writes of products, through the cache."""

from __future__ import annotations

from shop.cache import ProductCache, cached
from shop.repository import ProductData, ProductRepository, Versioned


class ProductService:
    """The application's product API. Reads go through `@cached`; writes commit to the
    repository first, then store the committed version in the cache."""

    def __init__(self, repository: ProductRepository, cache: ProductCache) -> None:
        self.repository = repository
        self.cache = cache
        self.get_product = cached(cache)(repository.load)

    def put_product(self, product: ProductData) -> int:
        version = self.repository.save(product)
        self.cache.store(product.id, Versioned(version, product))
        return version

    def delete_product(self, product_id: str) -> int:
        version = self.repository.delete(product_id)
        self.cache.store(product_id, Versioned(version, None))
        return version
