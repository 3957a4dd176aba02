"""Clean slates without destroying anyone's data.

On a server cachecheck started, a reset is FLUSHALL. On a server the user runs, cachecheck
writes only under its own key prefix and deletes only those keys, unless the user explicitly
allowed flushing (`--cachecheck-allow-flush`).
"""

from __future__ import annotations

import os

import redis

from cachecheck._errors import UnsafeResetError


class Keyspace:
    """The part of a Redis server one test run may write to and wipe."""

    def __init__(self, client: redis.Redis, *, owned: bool, allow_flush: bool = False) -> None:
        self._client = client
        self.owned = owned
        self.allow_flush = allow_flush
        # A prefix per process keeps xdist workers sharing one external server apart.
        self.prefix = "cc:" if owned else f"cc:{os.getpid()}:"

    def reset(self) -> None:
        """Remove every key this run may have written."""
        if self.owned:
            self._client.flushall()
        elif self.allow_flush:
            self._client.flushdb()
        else:
            self._delete_prefix()

    def flush(self) -> None:
        """FLUSHDB, refusing on a server cachecheck did not start that holds foreign keys."""
        if not self.owned and not self.allow_flush:
            foreign = self.foreign_keys(limit=3)
            if foreign:
                raise UnsafeResetError(
                    f"refusing to FLUSHDB: this Redis was not started by cachecheck and holds "
                    f"keys it did not write (e.g. {foreign}). cachecheck only deletes keys under "
                    f"{self.prefix!r}; pass --cachecheck-allow-flush to allow flushing."
                )
        self._client.flushdb()

    def foreign_keys(self, limit: int = 10) -> list[str]:
        """Up to `limit` keys outside this run's prefix."""
        found: list[str] = []
        for key in self._client.scan_iter(count=1000):
            if not str(key).startswith(self.prefix):
                found.append(str(key))
                if len(found) >= limit:
                    break
        return found

    def _delete_prefix(self) -> None:
        batch: list[str] = []
        for key in self._client.scan_iter(match=_escape_glob(self.prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                self._client.unlink(*batch)
                batch.clear()
        if batch:
            self._client.unlink(*batch)


def _escape_glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
