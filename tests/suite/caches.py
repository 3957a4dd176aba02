"""Source of the inner test modules: tiny caches written into pytester's temporary directory."""

from __future__ import annotations

HEADER = '''
from hypothesis import settings
from cachecheck import Contract, FunctionSubject, RunnerConfig, TtlPolicy
from cachecheck.suite import CacheSuite

FAST = settings(max_examples=25, stateful_step_count=10, deadline=None, database=None,
                derandomize=True)
CONTRACT = Contract(name="tiny", ttl=TtlPolicy(max_seconds=60))


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
        self.prefix = world.namespace + "tiny:"
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


class NeverInvalidates(Tiny):
    """The write path forgets to update the cache."""

    def set(self, key, value):
        self.db.write(key, value)
'''
