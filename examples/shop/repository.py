"""The source of truth behind a small protocol, so the cache layer does not care whether
products live in the app's SQL tables or (in cachecheck tests) in cachecheck's database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from shop.models import Base, Product


@dataclass(frozen=True)
class ProductData:
    """What the API serves for a product."""

    id: str
    name: str
    price_cents: int


@dataclass(frozen=True)
class Versioned:
    """A product (None: absent or deleted) with the version of the row it was read from
    (0: never existed)."""

    version: int
    product: ProductData | None


class ProductRepository(Protocol):
    def load(self, product_id: str) -> Versioned: ...

    def save(self, product: ProductData) -> int:
        """Insert or update; return the committed version."""
        ...

    def delete(self, product_id: str) -> int:
        """Soft-delete; return the committed version (0 if the product never existed)."""
        ...


class SqlProductRepository:
    """Products in SQL through SQLAlchemy ORM sessions; every call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        Base.metadata.create_all(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def load(self, product_id: str) -> Versioned:
        with self._sessions() as session:
            row = session.get(Product, product_id)
            if row is None:
                return Versioned(0, None)
            if row.deleted:
                return Versioned(row.version, None)
            return Versioned(row.version, ProductData(row.id, row.name, row.price_cents))

    def save(self, product: ProductData) -> int:
        with self._sessions.begin() as session:
            row = _locked(session, product.id)
            if row is None:
                row = Product(id=product.id, name=product.name, price_cents=product.price_cents)
                session.add(row)
            else:
                row.name, row.price_cents, row.deleted = product.name, product.price_cents, False
            session.flush()
            return row.version

    def delete(self, product_id: str) -> int:
        with self._sessions.begin() as session:
            row = _locked(session, product_id)
            if row is None:
                return 0
            row.deleted = True
            session.flush()
            return row.version


def _locked(session: Session, product_id: str) -> Product | None:
    return session.scalars(
        select(Product).where(Product.id == product_id).with_for_update()
    ).one_or_none()
