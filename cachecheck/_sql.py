"""The source of truth's statements, compiled once and run on raw DBAPI connections.

A model step reads or writes the database once or twice. Through SQLAlchemy's `Connection`
each statement cost 100-300 µs (cache-key generation, result wrapping, autobegin); the same
statement compiled once for the dialect and run on a pooled DBAPI cursor costs ~10 µs on
SQLite. The statements are still built with SQLAlchemy Core, so every dialect gets its own
SQL and parameter style.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """SQL text for one dialect and the order of its positional parameters (None: named)."""

    sql: str
    positions: tuple[str, ...] | None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.positions is None:
            return values
        return tuple(values[name] for name in self.positions)


def compile_statement(engine: Engine, statement: ClauseElement) -> CompiledStatement:
    compiled = cast("SQLCompiler", statement.compile(dialect=engine.dialect))
    positions = tuple(compiled.positiontup or ()) if compiled.positional else None
    return CompiledStatement(compiled.string, positions)


class Statements:
    """Every statement `Database` runs, for its two tables on one engine."""

    def __init__(self, engine: Engine, items: Table, commit_log: Table) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        #: The driver's own IntegrityError (a raw cursor raises DBAPI exceptions).
        self.integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError

        def compiled(statement: ClauseElement) -> CompiledStatement:
            return compile_statement(engine, statement)

        key = items.c.key == bindparam("k")
        version = select(items.c.version).where(key)
        if not self.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serializes writers
            version = version.with_for_update()
        fields: dict[str, Any] = {
            "value": bindparam("v"),
            "version": bindparam("ver"),
            "deleted": bindparam("gone"),
        }
        log = commit_log.c
        self.row = compiled(select(items.c.value, items.c.version, items.c.deleted).where(key))
        self.version_for_update = compiled(version)
        self.update_item = compiled(update(items).where(key).values(**fields))
        self.insert_item = compiled(insert(items).values(key=bindparam("k"), **fields))
        self.log_commit = compiled(
            insert(commit_log).values(
                key=bindparam("k"),
                version=bindparam("ver"),
                value=bindparam("v"),
                committed_at=bindparam("at"),
            )
        )
        self.snapshot = compiled(select(items.c.key, items.c.value, items.c.deleted))
        self.log_since = compiled(
            select(log.id, log.key, log.version, log.value, log.committed_at)
            .where(log.id > bindparam("after"))
            .order_by(log.id)
        )
        self.clear_items = compiled(delete(items))
        self.clear_log = compiled(delete(commit_log))

    def fetch_one(self, statement: CompiledStatement, **values: Any) -> tuple[Any, ...] | None:
        """One row, outside any transaction (a single statement sees a consistent state)."""
        with self._cursor() as cursor:
            cursor.execute(statement.sql, statement.parameters(values))
            row = cursor.fetchone()
        return None if row is None else tuple(row)

    def fetch_all(self, statement: CompiledStatement, **values: Any) -> list[tuple[Any, ...]]:
        with self._cursor() as cursor:
            cursor.execute(statement.sql, statement.parameters(values))
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: committed on success, rolled back on any error.

        On SQLite it takes the write lock at BEGIN (IMMEDIATE), so read-modify-write
        transactions serialize instead of failing with "database is locked" on upgrade.
        """
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                if self.is_sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield Transaction(cursor)
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool, which rolls back any implicit transaction


class Transaction:
    """Statements run inside one `Statements.transaction()`."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, statement: CompiledStatement, **values: Any) -> None:
        self._cursor.execute(statement.sql, statement.parameters(values))

    def scalar(self, statement: CompiledStatement, **values: Any) -> Any:
        self.execute(statement, **values)
        row = self._cursor.fetchone()
        return None if row is None else row[0]
