"""Cache tags: invalidate every entry derived from some data at once (`invalidate_tag("user:7")`).

Each tag has a *version token* in Redis (a fresh number from one monotonic counter on every
invalidation, so a token never repeats). An entry stores the tokens of its tags as they were
*before* its database read: `"<tok1>,<tok2>|<value>"`. A hit compares them with the current
tokens in the same Lua call as the GET; any difference means some tag was invalidated after the
data was read, and the entry is dropped as a miss. Invalidating a tag is therefore one SET,
whatever the number of members, and a member filled concurrently with the invalidation is caught
because its snapshot predates the new token. Member keys themselves are leased cache-aside.

Unique tokens make the scheme independent of tag-key lifetimes: a tag key that expired or was
evicted simply mismatches every stored snapshot (a miss, never a stale hit). Tag keys are still
extended to outlive their longest-lived member, so members with different TTLs are not dropped
early.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import ClassVar, Final

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract
from cachecheck._database import Database

from ._registry import Reference, register_reference
from .cache_aside import (
    DEFAULT_LEASE_TTL,
    DEFAULT_TTL,
    LEASE_STATE,
    LEASE_TOKEN,
    FillHook,
    LeasedCacheAside,
    leased_contract,
    seconds_to_ms,
)

__all__ = ["TAG_LOOKUP", "TaggedCache", "bucket_tags", "tags_contract"]

TagsOf = Callable[[str], Iterable[str]]

# KEYS: entry, lease, counter, tag keys... ARGV: lease ms, tag px.
# Returns {value, nil, snapshot} on a valid hit, {nil, token-or-nil, snapshot} on a miss; the
# snapshot is the current tag tokens, taken before the caller reads the database.
TAG_LOOKUP: Final = (
    LEASE_TOKEN
    + """
local n = #KEYS - 3
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  local current = {}
  for i = 1, n do current[i] = redis.call('GET', KEYS[3 + i]) or '' end
  if string.sub(v, 1, sep - 1) == table.concat(current, ',') then
    return {string.sub(v, sep + 1), false, ''}
  end
  redis.call('DEL', KEYS[1])
end
local tokens = {}
for i = 1, n do
  local t = redis.call('GET', KEYS[3 + i])
  if not t then
    t = tostring(redis.call('INCR', KEYS[3]))
    redis.call('SET', KEYS[3 + i], t, 'PX', ARGV[2])
  end
  tokens[i] = t
end
local snapshot = table.concat(tokens, ',')
if redis.call('EXISTS', KEYS[2]) == 1 then return {false, false, snapshot} end
local token = new_token(KEYS[3])
redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
return {false, token, snapshot}
"""
)

# KEYS: entry, lease, tag keys... ARGV: lease token, snapshot, value, px, row version.
# Store only under our lease (intact, or marked by a write no newer than our row; the key is
# freed either way) and only if no tag moved since the snapshot; extend tag keys so they
# outlive this member.
_TAG_FILL: Final = (
    LEASE_STATE
    + """
local state = lease_state(KEYS[2], ARGV[1])
if state == nil then return 0 end
redis.call('DEL', KEYS[2])
if state ~= 'mine' and state > tonumber(ARGV[5]) then return 0 end
local n = #KEYS - 2
local current = {}
for i = 1, n do current[i] = redis.call('GET', KEYS[2 + i]) or '' end
if table.concat(current, ',') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
for i = 1, n do
  if redis.call('PTTL', KEYS[2 + i]) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[2 + i], ARGV[4])
  end
end
return 1
"""
)

# KEYS: tag key, counter. ARGV: px. A new token; never shortens the tag's life.
_INVALIDATE_TAG: Final = """
local px = math.max(tonumber(ARGV[1]), redis.call('PTTL', KEYS[1]))
return redis.call('SET', KEYS[1], redis.call('INCR', KEYS[2]), 'PX', px)
"""


def bucket_tags(key: str, buckets: int = 4) -> tuple[str, ...]:
    """A default `tags_of`: one tag per hash bucket, so each tag groups several keys."""
    return (f"bucket{zlib.crc32(key.encode()) % buckets}",)


def tags_contract(ttl: float = DEFAULT_TTL, lease_ttl: float = DEFAULT_LEASE_TTL) -> Contract:
    return leased_contract(
        "tags",
        ttl=ttl,
        lease_ttl=lease_ttl,
        extra={"tag_invalidation": True},
        notes=(
            "After invalidate_tag(t) returns, no read returns a value read from the database "
            "before it for any member of t: entries carry the tag tokens taken before their "
            "read, and hits compare them. Call invalidate_tag after the database commit."
        ),
    )


class TaggedCache(LeasedCacheAside):
    """Leased cache-aside whose entries are also invalidated by tag.

    When to use: derived values that depend on shared data (a user's profile page, their
    orders list, a team summary) and are invalidated together when that data changes.

    Contract: as `LeasedCacheAside`, plus: once `invalidate_tag(tag)` returns, no read returns
    a value loaded before it for any key with that tag, including keys filled concurrently with
    the invalidation and keys with different TTLs. `tags_of(key)` must be deterministic.
    Tag keys have TTLs (extended to outlive their members); the token counter is exempt.

    Cost: a hit is one EVALSHA reading the entry and its tags' tokens; `invalidate_tag` is one
    EVALSHA whatever the number of members; dropped members are removed lazily, on their next
    read or by their TTL.

    Args:
        tags_of: the tags of a key (default `bucket_tags`).
    """

    strategy = "tags"
    _lookup_source: ClassVar[str] = TAG_LOOKUP

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        tags_of: TagsOf = bucket_tags,
        ttl: float = DEFAULT_TTL,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            redis_client,
            database,
            namespace,
            ttl=ttl,
            lease_ttl=lease_ttl,
            clock=clock,
            before_fill=before_fill,
        )
        self.tags_of = tags_of
        self._tag_lookup = redis_client.register_script(self._lookup_source)
        self._tag_fill = redis_client.register_script(_TAG_FILL)
        self._tag_invalidate = redis_client.register_script(_INVALIDATE_TAG)

    @property
    def contract(self) -> Contract:
        return tags_contract(self.ttl, self.lease_ttl)

    def get(self, key: str) -> str | None:
        if self._is_pending(key):
            return self._load(key)
        tag_keys = self._tag_keys(key)
        keys = [*self._lookup_keys(key), *tag_keys]
        raw, token, snapshot = self._tag_lookup(
            keys=keys, args=[seconds_to_ms(self.lease_ttl), self._ttl_ms()]
        )
        if raw is not None:
            return str(raw)
        if token is None:
            return self._load(key)  # someone else is filling
        return self._load_and_fill_tagged(key, str(token), str(snapshot), tag_keys)

    def invalidate_tag(self, tag: str) -> None:
        """Invalidate every entry of `tag`. Call after committing the change it reflects."""
        self._tag_invalidate(
            keys=[self._tag_key(tag), self._keys.meta("seq")], args=[self._ttl_ms()]
        )

    def _load_and_fill_tagged(
        self, key: str, token: str, snapshot: str, tag_keys: list[str]
    ) -> str | None:
        read_at = self._clock.now()
        try:
            loaded = self._read_source(key)
        except BaseException:
            self._release(key, token)
            raise
        self._pause_before_fill(key)
        px = self._remaining_ms(self._ttl_ms(), read_at)
        if loaded.value is None or px <= 0:
            self._release(key, token)
            return loaded.value
        stamp = self._snapshot_for_fill(tag_keys, snapshot)
        keys = [self._keys.value(key), self._keys.meta("lease", key), *tag_keys]
        self._tag_fill(keys=keys, args=[token, stamp, loaded.value, px, loaded.version])
        return loaded.value

    def _snapshot_for_fill(self, tag_keys: list[str], snapshot: str) -> str:
        """The tag tokens the entry is stamped with: those taken before the database read."""
        return snapshot

    def _tag_keys(self, key: str) -> list[str]:
        return [self._tag_key(tag) for tag in sorted(set(self.tags_of(key)))]

    def _tag_key(self, tag: str) -> str:
        return self._keys.meta("tag", tag)


register_reference(
    Reference(
        "tags",
        lambda world: TaggedCache(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        tags_contract(),
        "Tagged cache: per-tag version tokens checked on every hit (one Lua call).",
    )
)
