"""Write-through: every write updates the database and then the cache, in the write path.

The cache entry carries the database version it was computed from (`"<version>:+<value>"`, or
`"<version>:-"` for an absent or deleted key), and every store is a Lua compare: it lands only
if it is newer than both the entry and a per-key *high-water mark* of the newest version ever
stored. Concurrent writers can therefore reach Redis in any order (the dual-write reordering
race) and the newest version still wins, and a slow read-miss fill can never overwrite a newer
write, even when the newer entry was evicted in between (the high-water mark outlives it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._registry import Reference, register_reference
from .cache_aside import DEFAULT_TTL, FillHook, RedisCache, text

__all__ = ["PUT", "Versioned", "WriteThrough", "write_through_contract"]

# KEYS: entry, high-water mark. ARGV: version, entry text, px (entry), px (mark).
# Store only if `version` is newer than the entry and not older than the mark. The mark lives
# a full TTL after each store, longer than any entry computed from an older read can live
# (entries count their TTL from their read), so it guards exactly as long as needed.
PUT: Final = """
local version = tonumber(ARGV[1])
local mark = tonumber(redis.call('GET', KEYS[2]) or '0')
if mark > version then return 0 end
local current = redis.call('GET', KEYS[1])
if current then
  local stored = tonumber(string.match(current, '^(%d+):'))
  if stored and stored >= version then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], version, 'PX', ARGV[4])
return 1
"""


@dataclass(frozen=True, slots=True)
class Versioned:
    """A cache entry: the database version it reflects and the value (None: absent)."""

    version: int
    value: str | None

    def encode(self) -> str:
        return f"{self.version}:-" if self.value is None else f"{self.version}:+{self.value}"

    @classmethod
    def decode(cls, raw: str) -> Versioned:
        version, _, rest = raw.partition(":")
        return cls(int(version), rest[1:] if rest.startswith("+") else None)


def write_through_contract(ttl: float = DEFAULT_TTL) -> Contract:
    return Contract(
        name="write_through",
        staleness_bound=0.0,
        read_your_writes=True,
        converges=True,
        ttl=TtlPolicy(max_seconds=ttl),
        notes=(
            "Versioned conditional stores: concurrent writers and slow fills land in version "
            "order. A cache update that fails after the commit makes the write raise (:info) "
            "and is retried by drain() and before the next write."
        ),
    )


class WriteThrough(RedisCache):
    """Write-through with versioned conditional stores.

    A write commits to the database (which assigns the next version), then stores the entry
    with a Lua compare-and-set on the version. A read miss loads the row with its version and
    fills through the same compare. Deletes store a versioned tombstone, so absence is cached
    and a fill from before the delete cannot resurrect the value.

    When to use: data that is read right after it is written (the write warms the cache), and
    where writes are rarer than reads. Prefer cache-aside (invalidate on write) when many writes
    are never read.

    Contract: converges, read-your-writes, staleness 0 once a write completed, every key has a
    TTL. If Redis fails after the database commit the write raises (an :info outcome); the
    update is retried by `drain()` and reads of that key bypass the cache in this process.

    Cost: a hit is one GET; a write is a database write + one EVALSHA; one small high-water key
    per recently written key.
    """

    strategy = "write_through"
    _put_source: ClassVar[str] = PUT

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            redis_client, database, namespace, ttl=ttl, clock=clock, before_fill=before_fill
        )
        self._put_script = redis_client.register_script(self._put_source)

    @property
    def contract(self) -> Contract:
        return write_through_contract(self.ttl)

    def get(self, key: str) -> str | None:
        if self._is_pending(key):
            return self._db.read(key)
        raw = text(self._redis.get(self._keys.value(key)))
        if raw is not None:
            return Versioned.decode(raw).value
        read_at = self._clock.now()
        row = self._db.read_row(key)
        entry = Versioned(0, None) if row is None else Versioned(row.version, row.value)
        self._pause_before_fill(key)
        self._put(key, entry, read_at)
        return entry.value

    def set(self, key: str, value: str) -> None:
        self._write(key, value)

    def delete(self, key: str) -> None:
        self._write(key, None)

    def _write(self, key: str, value: str | None) -> None:
        version = self._db.write(key, value) if value is not None else self._db.delete(key)
        committed_at = self._clock.now()
        self._pause_before_fill(key)
        entry = Versioned(version, value)
        # A lost update would leave an older version cached: queue it for retry on failure.
        self._guarded(key, lambda: self._put(key, entry, committed_at))

    def _put(self, key: str, entry: Versioned, since: float) -> bool:
        """Store `entry` if it is the newest; its TTL counts from `since`."""
        ttl_ms = self._ttl_ms()
        px = self._remaining_ms(ttl_ms, since)
        if px <= 0:  # anything older than this has expired by now as well
            return False
        keys = [self._keys.value(key), self._keys.meta("hw", key)]
        return bool(self._put_script(keys=keys, args=[entry.version, entry.encode(), px, ttl_ms]))


register_reference(
    Reference(
        "write_through",
        lambda world: WriteThrough(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        write_through_contract(),
        "Write-through with versioned conditional stores (Lua compare on the DB version).",
    )
)
