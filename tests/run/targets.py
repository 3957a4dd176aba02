"""Source of the `--target` modules the CLI tests write into a temporary directory."""

from __future__ import annotations

GOOD = '''
from cachecheck import Contract, TtlPolicy

CONTRACT = Contract(name="target-tiny", ttl=TtlPolicy(max_seconds=60))


STORE = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)|')) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', 60)
return 1
"""


class Tiny:
    """Versioned cache-aside: every store (fill, update, tombstone) is a compare-and-set on
    the row version, so a late fill never overwrites a newer entry."""

    def __init__(self, world):
        self.redis, self.db = world.client(), world.database
        self.prefix = world.namespace + "t:"
        self.store = self.redis.register_script(STORE)

    def get(self, key):
        cached = self.redis.get(self.prefix + key)
        if cached is not None:
            value = cached.partition("|")[2]
            return None if value == "-" else value
        row = self.db.read_row(key)
        version, value = (0, None) if row is None else (row.version, row.value)
        self.store(keys=[self.prefix + key], args=[version, "-" if value is None else value])
        return value

    def set(self, key, value):
        version = self.db.write(key, value)
        self.store(keys=[self.prefix + key], args=[version, value])

    def delete(self, key):
        version = self.db.delete(key)
        self.store(keys=[self.prefix + key], args=[version, "-"])


class NoInvalidation(Tiny):
    def set(self, key, value):
        self.db.write(key, value)


def make(world):
    """The tiny cache."""
    return Tiny(world)


def make_buggy(world):
    return NoInvalidation(world)


def make_number(world):
    return 42


def make_raising(world):
    raise RuntimeError("no cache today")


not_callable = 3
'''

NO_CONTRACT = """
def make(world):
    class Plain:
        def get(self, key): return None
        def set(self, key, value): pass
        def delete(self, key): pass
    return Plain()
"""

BOOM = """
import os

raise RuntimeError("kaboom at import")
"""
