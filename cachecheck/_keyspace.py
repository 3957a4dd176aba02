"""Clean slates without destroying anyone's data.

On a server cachecheck started, a reset is FLUSHALL. On a server the user runs, cachecheck
writes only under its own key prefix and deletes only those keys, unless the user explicitly
allowed flushing (`--cachecheck-allow-flush`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import redis

from cachecheck._errors import UnsafeResetError


@dataclass(frozen=True)
class Advance:
    """What moving time forward did: the keys that expired, and every key's PTTL before."""

    expired: list[str]
    pttls_before: dict[str, int]


class Keyspace:
    """The part of a Redis server one test run may write to and wipe."""

    def __init__(self, client: redis.Redis, *, owned: bool, allow_flush: bool = False) -> None:
        self._client = client
        self.owned = owned
        self.allow_flush = allow_flush
        # A prefix per process keeps xdist workers sharing one external server apart.
        self.prefix = "cc:" if owned else f"cc:{os.getpid()}:"
        self._scripts: dict[str, Any] = {}

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

    # -- time travel and eviction, one round trip each (the model does one per step) -------

    def pttls(self) -> dict[str, int]:
        """PTTL of every key under the prefix (-1: no TTL), in key order."""
        flat = self._script("pttls", _PTTLS)(args=[self._pattern])
        return dict(sorted((str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)))

    def advance(self, ms: int, *, grace_ms: int = 0) -> Advance:
        """Shorten every TTL under the prefix by `ms`, as that much time passing would, and
        delete the keys whose TTL runs out, or would within `grace_ms` more: left to Redis,
        they would expire in real time a moment later, where nobody records it."""
        script = self._script("advance", _ADVANCE)
        expired, flat = script(args=[self._pattern, ms, grace_ms])
        before = {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Advance(sorted(str(key) for key in expired), before)

    def evict(self, choice: int) -> str | None:
        """Delete volatile key number `choice` (modulo their count, in sorted order), as
        maxmemory eviction would. Returns it, or None when no key has a TTL."""
        evicted = self._script("evict", _EVICT)(args=[self._pattern, choice])
        return None if evicted is None else str(evicted)

    def evict_all_of(self, name: str) -> list[str]:
        """Delete every volatile key under the prefix that ends in ":<name>" (an entry, its
        lease, its markers), as maxmemory eviction could. Returns them, sorted."""
        pattern = self._pattern + ":" + _escape_glob(name)
        return sorted(str(key) for key in self._script("evict_all", _EVICT_ALL)(args=[pattern]))

    @property
    def _pattern(self) -> str:
        return _escape_glob(self.prefix) + "*"

    def _script(self, name: str, source: str) -> Any:
        # redis-py's Script reloads itself after a restart (NOSCRIPT), so crashes are fine.
        if name not in self._scripts:
            self._scripts[name] = self._client.register_script(source)
        return self._scripts[name]

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


# Each script visits the prefix's keys with SCAN (never KEYS: the server may be shared).
_SCAN = """
local function each_key(pattern, visit)
  local cursor = "0"
  repeat
    local page = redis.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
    cursor = page[1]
    for _, key in ipairs(page[2]) do visit(key) end
  until cursor == "0"
end
"""

_PTTLS = (
    _SCAN
    + """
local out = {}
each_key(ARGV[1], function(key)
  out[#out + 1] = key
  out[#out + 1] = redis.call("PTTL", key)
end)
return out
"""
)

_ADVANCE = (
    _SCAN
    + """
local ms, grace, expired, before = tonumber(ARGV[2]), tonumber(ARGV[3]), {}, {}
each_key(ARGV[1], function(key)
  local pttl = redis.call("PTTL", key)
  before[#before + 1] = key
  before[#before + 1] = pttl
  if pttl > ms + grace then
    redis.call("PEXPIRE", key, pttl - ms)
  elseif pttl > 0 then
    redis.call("DEL", key)
    expired[#expired + 1] = key
  end
end)
return {expired, before}
"""
)

_EVICT = (
    _SCAN
    + """
local volatile = {}
each_key(ARGV[1], function(key)
  if redis.call("PTTL", key) > 0 then volatile[#volatile + 1] = key end
end)
if #volatile == 0 then return false end
table.sort(volatile)
local key = volatile[tonumber(ARGV[2]) % #volatile + 1]
redis.call("DEL", key)
return key
"""
)

_EVICT_ALL = (
    _SCAN
    + """
local evicted = {}
each_key(ARGV[1], function(key)
  if redis.call("PTTL", key) > 0 then
    redis.call("DEL", key)
    evicted[#evicted + 1] = key
  end
end)
return evicted
"""
)
