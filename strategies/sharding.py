"""Client-side sharding over several Redis servers with consistent hashing, or Redis Cluster.

`ShardedCache` routes each key to one node of a ketama-compatible hash ring (uhashring,
extra `[sharding]`), or hands every command to a `redis.cluster.RedisCluster` client, behind
the same lease-guarded cache-aside.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.cluster import RedisCluster

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._common import Keys
from ._registry import Reference, register_reference
from .stampede import (
    Counters,
    FillLease,
    RedisClient,
    check_positive,
    decode_entry,
    encode_entry,
    text,
)

if TYPE_CHECKING:
    from cachecheck._world import World

#: The pseudo node name of a Redis Cluster topology.
CLUSTER_NODE: Final = "cluster"


def _hash_ring_class() -> Any:
    try:
        from uhashring import HashRing
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ShardedCache's client-side ring needs uhashring: "
            "pip install 'pytest-cachecheck[sharding]'"
        ) from exc
    return HashRing


@dataclass(frozen=True, slots=True)
class Ring:
    """One immutable ring: the node names and their continuum, tagged with a generation."""

    generation: int
    nodes: tuple[str, ...]
    continuum: Any  # uhashring.HashRing; never mutated once built

    @classmethod
    def build(cls, generation: int, nodes: Iterable[str], vnodes: int) -> Ring:
        names = tuple(sorted(nodes))
        if not names:
            raise ValueError("a ring needs at least one node")
        continuum = _hash_ring_class()(nodes=list(names), hash_fn="ketama", vnodes=vnodes)
        return cls(generation, names, continuum)


@dataclass(frozen=True, slots=True)
class Topology:
    """What every operation routes by: the current ring, the clients and recent rings."""

    clients: Mapping[str, RedisClient]
    history: tuple[Ring, ...]  # oldest first; the last one is current; empty for Cluster

    @property
    def generation(self) -> int:
        return self.history[-1].generation if self.history else 0

    @property
    def current(self) -> Ring | None:
        return self.history[-1] if self.history else None


class ShardedCache:
    """Lease-guarded cache-aside sharded over several Redis servers (or a Redis Cluster).

    **Use it** when one Redis server is too small or too busy for the working set and a
    Redis Cluster is not available (client-side ring), or to run the same cache code on a
    Redis Cluster (`ShardedCache.for_cluster`).

    **How it works.**

    - Each key goes to the node the ketama-compatible ring picks (uhashring, `vnodes` points
      per node). Adding a node to `n` nodes moves only about `1 / (n + 1)` of the keys, where
      modulo hashing would move about `n / (n + 1)` of them.
    - All of a key's Redis keys share a hash tag, so the same code works on a Redis Cluster,
      where the cluster routes them instead.
    - Topology changes (`add_node`, `remove_node`) build a new ring with a new generation.
      Every entry records the generation it was filled under. A hit is valid only if the key
      has had the same owner since that generation (checked against the last `history`
      rings, in memory). So a key that moves away and back never serves the copy its old
      node kept while writes invalidated the other node. A fill that raced a topology change
      is caught the same way.
    - Writes invalidate on the owner under the ring current *after* the database commit.

    **Contract.** Like cache-aside: reads after a completed write see it; an entry left
    stale by a failed invalidation lives at most `ttl`. Every process must apply the same
    topology changes in the same order (e.g. from versioned configuration), since
    generations are counted per process.

    **Cost.** Hit: 1 round trip to one node, plus up to `history` in-memory ring lookups.
    A topology change costs no Redis calls: moved keys simply miss once.
    """

    strategy = "sharded"

    def __init__(
        self,
        nodes: Mapping[str, RedisClient] | RedisCluster,
        database: Database,
        *,
        namespace: str,
        ttl: float = 30.0,
        lease_ttl: float = 10.0,
        vnodes: int = 40,
        history: int = 16,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        check_positive(ttl=ttl, lease_ttl=lease_ttl, vnodes=vnodes, history=history)
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.ttl = ttl
        self.vnodes = vnodes
        self.history_size = history
        self.clock: Clock = clock or MonotonicClock()
        self._topology_lock = threading.Lock()
        if isinstance(nodes, RedisCluster):
            self._topology = Topology({CLUSTER_NODE: nodes}, ())
            first: RedisClient = nodes
        else:
            if not nodes:
                raise ValueError("ShardedCache needs at least one node")
            self._topology = Topology(dict(nodes), (Ring.build(0, nodes, vnodes),))
            first = next(iter(nodes.values()))
        self._lease = FillLease(first, lease_ttl=lease_ttl)
        self.stats = Counters("hits", "misses", "loads", "fills", "fills_rejected", "moved_entries")

    @classmethod
    def for_cluster(
        cls, cluster: RedisCluster, database: Database, *, namespace: str, **options: Any
    ) -> ShardedCache:
        """The same cache on a Redis Cluster: the cluster client routes by hash slot."""
        return cls(cluster, database, namespace=namespace, **options)

    # -- Subject --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        topology = self._topology
        node = self.node_for(key, topology)
        client = topology.clients[node]
        value_key, lease_key = self._value_key(key), self._lease_key(key)
        entry = self._decode(text(client.get(value_key)))
        if entry is not None:
            generation, value = entry
            if generation >= self._owned_since(key, topology):
                self.stats.add("hits")
                return value
            self.stats.add("moved_entries")  # filled before the key last changed owner
        self.stats.add("misses")
        token = self._lease.begin(client, lease_key)
        self.stats.add("loads")
        value = self.database.read(key)
        payload = f"{topology.generation}:{encode_entry(value)}"
        filled = self._lease.fill(client, value_key, lease_key, token, payload, self.ttl)
        self.stats.add("fills" if filled else "fills_rejected")
        return value

    def set(self, key: str, value: str) -> None:
        self.database.write(key, value)
        self.invalidate(key)

    def delete(self, key: str) -> None:
        self.database.delete(key)
        self.invalidate(key)

    def invalidate(self, key: str) -> None:
        topology = self._topology  # read after the commit, on purpose
        client = topology.clients[self.node_for(key, topology)]
        FillLease.invalidate(client, self._value_key(key), self._lease_key(key))

    @property
    def contract(self) -> Contract:
        return sharded_contract(
            ttl=self.ttl, lease_ttl=self._lease.lease_ttl, name=self.keys.strategy
        )

    # -- topology -----------------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        current = self._topology.current
        return (CLUSTER_NODE,) if current is None else current.nodes

    @property
    def generation(self) -> int:
        return self._topology.generation

    def node_for(self, key: str, topology: Topology | None = None) -> str:
        topology = topology or self._topology
        current = topology.current
        return CLUSTER_NODE if current is None else self._locate(current, key)

    def owners(self, keys: Iterable[str]) -> dict[str, str]:
        """The node of each key under the current ring (for remap measurements)."""
        topology = self._topology
        return {key: self.node_for(key, topology) for key in keys}

    def add_node(self, name: str, client: RedisClient) -> None:
        with self._topology_lock:
            topology = self._require_ring("add_node")
            if name in topology.clients:
                raise ValueError(f"node {name!r} is already in the ring")
            self._install({**topology.clients, name: client})

    def remove_node(self, name: str) -> RedisClient:
        """Take `name` out of the ring; returns its client (the caller owns and closes it)."""
        with self._topology_lock:
            topology = self._require_ring("remove_node")
            if name not in topology.clients:
                raise KeyError(f"node {name!r} is not in the ring")
            if len(topology.clients) == 1:
                raise ValueError("cannot remove the last node")
            clients = dict(topology.clients)
            removed = clients.pop(name)
            self._install(clients)
            return removed

    # -- internals ----------------------------------------------------------------------------

    def _locate(self, ring: Ring, key: str) -> str:
        return str(ring.continuum.get_node(key))

    def _owned_since(self, key: str, topology: Topology) -> int:
        """The generation since which `key` has had its current owner (as far as we know)."""
        rings = topology.history
        if not rings:
            return 0
        owner = self._locate(rings[-1], key)
        for i in range(len(rings) - 1, 0, -1):
            previous = self._locate(rings[i - 1], key)
            if previous != owner:
                return rings[i].generation
        return rings[0].generation

    def _install(self, clients: dict[str, RedisClient]) -> None:
        old = self._topology
        ring = Ring.build(old.generation + 1, clients, self.vnodes)
        history = (*old.history, ring)[-self.history_size :]
        self._topology = Topology(clients, history)

    def _require_ring(self, action: str) -> Topology:
        topology = self._topology
        if topology.current is None:
            raise TypeError(
                f"{action}() is for the client-side ring; Redis Cluster reshards itself"
            )
        return topology

    def _tagged(self, key: str) -> str:
        # One hash tag for all of a key's Redis keys, so Lua and multi-key DEL work on a Cluster.
        tag = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
        return f"{{{tag}}}{key}"

    def _value_key(self, key: str) -> str:
        return self.keys.value(self._tagged(key))

    def _lease_key(self, key: str) -> str:
        return self.keys.meta("lease", self._tagged(key))

    @staticmethod
    def _decode(raw: str | None) -> tuple[int, str | None] | None:
        if raw is None:
            return None
        generation, sep, rest = raw.partition(":")
        if not sep or not generation.isdigit():
            return None
        found, value = decode_entry(rest)
        return (int(generation), value) if found else None

    def __repr__(self) -> str:
        return f"ShardedCache(nodes={list(self.nodes)!r}, generation={self.generation})"


def remap_fraction(
    keys: Sequence[str], before: Iterable[str], after: Iterable[str], *, vnodes: int = 40
) -> float:
    """The fraction of `keys` whose node differs between two rings (no servers needed)."""
    if not keys:
        raise ValueError("remap_fraction needs at least one key")
    old, new = Ring.build(0, before, vnodes), Ring.build(1, after, vnodes)
    moved = sum(1 for key in keys if old.continuum.get_node(key) != new.continuum.get_node(key))
    return moved / len(keys)


def sharded_contract(*, ttl: float, lease_ttl: float, name: str = "sharded") -> Contract:
    """What `ShardedCache` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        ttl=TtlPolicy(max_seconds=max(ttl, lease_ttl)),
        negative_ttl=ttl,
        notes="Consistent hashing; entries are ignored after their key changed owner.",
        extra={"expected_remap_fraction": "1/(n+1) on adding a node to n"},
    )


REFERENCE_TTL: Final = 5.0
SHARDED_CONTRACT: Final = sharded_contract(ttl=REFERENCE_TTL, lease_ttl=10.0)


def make_sharded_cache(
    world: World, *, cls: type[ShardedCache] = ShardedCache, **overrides: Any
) -> ShardedCache:
    """A one-node ring on the world's server (the generic suite has one server); sharding
    properties need several servers from `cachecheck_redis_factory`."""
    options: dict[str, Any] = {"ttl": REFERENCE_TTL, "clock": world.clock}
    options.update(overrides)
    return cls({"node0": world.client()}, world.database, namespace=world.namespace, **options)


register_reference(
    Reference(
        "sharded",
        make_sharded_cache,
        SHARDED_CONTRACT,
        "Cache-aside sharded with a ketama consistent-hash ring (or Redis Cluster).",
    )
)

__all__ = [
    "CLUSTER_NODE",
    "Ring",
    "ShardedCache",
    "Topology",
    "make_sharded_cache",
    "remap_fraction",
    "sharded_contract",
]
