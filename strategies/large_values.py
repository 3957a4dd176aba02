"""A guard against oversized cache values: reject them, or split them into chunks.

Large values hurt Redis (one big value blocks the event loop and the network for everyone;
eviction frees memory in lumps). `SizeGuard` either refuses them with a clear error or stores
them as versioned chunks behind an atomically swapped manifest.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

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

_MANIFEST: Final = "m"


class SizeMode(enum.StrEnum):
    #: Values over the limit are refused: `set` raises, reads serve them uncached.
    REJECT = "reject"
    #: Values over the limit are stored as chunks of at most `limit_bytes` each.
    SPLIT = "split"


class ValueTooLargeError(ValueError):
    """A value is over the size the cache accepts."""

    def __init__(self, key: str, size: int, limit: int, *, mode: SizeMode) -> None:
        self.key, self.size, self.limit, self.mode = key, size, limit, mode
        super().__init__(
            f"value for key {key!r} is {size} bytes (UTF-8), over the limit of {limit} bytes "
            f"(SizeGuard mode={mode.value}); store a reference to it instead, or raise the limit"
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """Where a split value lives: `chunks` keys under a version id unique to one fill."""

    version: str
    chunks: int
    size: int
    digest: str

    def encode(self) -> str:
        body = {"id": self.version, "n": self.chunks, "size": self.size, "sha256": self.digest}
        return _MANIFEST + json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> Manifest | None:
        try:
            body = json.loads(raw[len(_MANIFEST) :])
            manifest = cls(str(body["id"]), int(body["n"]), int(body["size"]), str(body["sha256"]))
        except (ValueError, TypeError, KeyError):
            return None
        return manifest if manifest.chunks > 0 else None


def split_utf8(value: str, limit: int) -> list[str]:
    """Split `value` into pieces of at most `limit` UTF-8 bytes, never inside a character."""
    data = value.encode("utf-8")
    pieces, start = [], 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and end > start and (data[end] & 0xC0) == 0x80:
            end -= 1  # do not cut a multi-byte sequence
        if end == start:  # limit smaller than one character: take the whole character
            end = start + 1
            while end < len(data) and (data[end] & 0xC0) == 0x80:
                end += 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SizeGuard:
    """Lease-guarded cache-aside that refuses or splits values over `limit_bytes`.

    **Use it** when values can be large (rendered pages, reports, blobs) and one oversized
    value must not stall Redis or be torn on read.

    **How it works.**

    - `mode="reject"`: `set` raises `ValueTooLargeError` (naming the key, the size and the
      limit) and writes nothing; a large value found in the database on a read is served but
      not cached.
    - `mode="split"`: a large value is written as chunks under keys that carry a version id
      unique to this fill; then the manifest (version, chunk count, size, SHA-256) is swapped
      in atomically by the guarded fill. A reader reads the manifest, then the chunks of that
      version in one `MGET`. Chunks of one write are never overwritten by another write, so a
      read can never mix two writes (the digest is checked as a second line of defence). A
      missing chunk (expired, evicted) is a miss. Old chunks are not deleted eagerly: they
      expire `ttl + lease_ttl` after they were written, which bounds the garbage.
    - Values over `limit_bytes * max_chunks` are refused in both modes.

    **Contract.** Like cache-aside (see `FillLease`); no torn or mixed reads (size property).

    **Cost.** Small value: 1 round trip per hit. Large value: 2 round trips per hit and
    `ceil(size / limit_bytes)` chunk keys per fill.
    """

    strategy = "sizeguard"

    def __init__(
        self,
        client: RedisClient,
        database: Database,
        *,
        namespace: str,
        limit_bytes: int = 512 * 1024,
        mode: SizeMode | str = SizeMode.SPLIT,
        max_chunks: int = 64,
        ttl: float = 30.0,
        lease_ttl: float = 10.0,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        check_positive(limit_bytes=limit_bytes, max_chunks=max_chunks, ttl=ttl, lease_ttl=lease_ttl)
        self.client = client
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.limit_bytes = limit_bytes
        self.mode = SizeMode(mode)
        self.max_chunks = max_chunks
        self.ttl = ttl
        self.clock: Clock = clock or MonotonicClock()
        self._lease = FillLease(client, lease_ttl=lease_ttl)
        self.stats = Counters(
            "hits", "misses", "loads", "fills", "fills_rejected", "split_fills", "chunk_misses",
            "digest_mismatches", "oversize_uncached", "rejected_writes",
        )  # fmt: skip

    # -- Subject --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        found, value = self._lookup(key)
        if found:
            self.stats.add("hits")
            return value
        self.stats.add("misses")
        token = self._lease.begin(self.client, self.keys.meta("lease", key))
        self.stats.add("loads")
        value = self.database.read(key)
        self._fill(key, token, value)
        return value

    def set(self, key: str, value: str) -> None:
        self.check_size(key, value)
        self.database.write(key, value)
        self.invalidate(key)

    def delete(self, key: str) -> None:
        self.database.delete(key)
        self.invalidate(key)

    def invalidate(self, key: str) -> None:
        FillLease.invalidate(self.client, self.keys.value(key), self.keys.meta("lease", key))

    @property
    def contract(self) -> Contract:
        return size_guard_contract(
            ttl=self.ttl, lease_ttl=self._lease.lease_ttl, limit_bytes=self.limit_bytes,
            mode=self.mode, name=self.keys.strategy,
        )  # fmt: skip

    def check_size(self, key: str, value: str) -> int:
        """The value's UTF-8 size; raises `ValueTooLargeError` if this guard refuses it."""
        size = len(value.encode("utf-8"))
        limit = (
            self.limit_bytes if self.mode is SizeMode.REJECT else self.limit_bytes * self.max_chunks
        )
        if size > limit:
            self.stats.add("rejected_writes")
            raise ValueTooLargeError(key, size, limit, mode=self.mode)
        return size

    # -- internals ----------------------------------------------------------------------------

    def _lookup(self, key: str) -> tuple[bool, str | None]:
        raw = text(self.client.get(self.keys.value(key)))
        if raw is None or not raw.startswith(_MANIFEST):
            return decode_entry(raw)
        manifest = Manifest.decode(raw)
        if manifest is None:
            return False, None
        parts = self._read_chunks(key, manifest)
        if parts is None:
            self.stats.add("chunk_misses")
            return False, None
        value = "".join(parts)
        if not self._verify(manifest, value):
            self.stats.add("digest_mismatches")
            return False, None
        return True, value

    def _fill(self, key: str, token: str, value: str | None) -> None:
        value_key, lease_key = self.keys.value(key), self.keys.meta("lease", key)
        size = 0 if value is None else len(value.encode("utf-8"))
        if value is None or size <= self.limit_bytes:
            payload = encode_entry(value)
        elif self.mode is SizeMode.REJECT or size > self.limit_bytes * self.max_chunks:
            self.stats.add("oversize_uncached")
            return
        else:
            manifest = self._write_chunks(key, value)
            payload = manifest.encode()
            self.stats.add("split_fills")
        filled = self._lease.fill(self.client, value_key, lease_key, token, payload, self.ttl)
        self.stats.add("fills" if filled else "fills_rejected")

    def _write_chunks(self, key: str, value: str) -> Manifest:
        pieces = split_utf8(value, self.limit_bytes)
        manifest = Manifest(
            secrets.token_hex(8), len(pieces), len(value.encode("utf-8")), _digest(value)
        )
        # Chunks outlive the manifest that names them: the manifest is written at most
        # lease_ttl later (else the fill is refused) and lives ttl.
        chunk_ttl_ms = round((self.ttl + self._lease.lease_ttl) * 1000)
        pipe = self.client.pipeline(transaction=False)
        for index, piece in enumerate(pieces):
            pipe.set(self._chunk_key(key, manifest.version, index), piece, px=chunk_ttl_ms)
        pipe.execute()
        return manifest

    def _read_chunks(self, key: str, manifest: Manifest) -> list[str] | None:
        names = [self._chunk_key(key, manifest.version, i) for i in range(manifest.chunks)]
        parts = [text(part) for part in self.client.mget(names)]
        if any(part is None for part in parts):
            return None
        return [part for part in parts if part is not None]

    def _chunk_key(self, key: str, version: str, index: int) -> str:
        return self.keys.meta("chunk", f"{key}:{version}:{index}")

    def _verify(self, manifest: Manifest, value: str) -> bool:
        return len(value.encode("utf-8")) == manifest.size and _digest(value) == manifest.digest

    def __repr__(self) -> str:
        return f"SizeGuard(mode={self.mode.value}, limit_bytes={self.limit_bytes}, ttl={self.ttl})"


def size_guard_contract(
    *, ttl: float, lease_ttl: float, limit_bytes: int, mode: SizeMode | str, name: str = "sizeguard"
) -> Contract:
    """What `SizeGuard` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        ttl=TtlPolicy(max_seconds=ttl + lease_ttl),
        negative_ttl=ttl,
        notes="Oversized values are refused or split behind an atomic manifest; no torn reads.",
        extra={"limit_bytes": limit_bytes, "size_mode": SizeMode(mode).value},
    )


REFERENCE_TTL: Final = 5.0
REFERENCE_LIMIT: Final = 1024
SIZE_GUARD_CONTRACT: Final = size_guard_contract(
    ttl=REFERENCE_TTL, lease_ttl=10.0, limit_bytes=REFERENCE_LIMIT, mode=SizeMode.SPLIT
)


def make_size_guard(
    world: World, *, cls: type[SizeGuard] = SizeGuard, **overrides: Any
) -> SizeGuard:
    """The registered reference (or, with `cls`, a variant of it) on `world`."""
    options: dict[str, Any] = {
        "ttl": REFERENCE_TTL,
        "limit_bytes": REFERENCE_LIMIT,
        "mode": SizeMode.SPLIT,
        "clock": world.clock,
    }
    options.update(overrides)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


register_reference(
    Reference(
        "size_guard",
        make_size_guard,
        SIZE_GUARD_CONTRACT,
        "Cache-aside that splits values over 1 KiB into versioned chunks with an atomic manifest.",
    )
)

__all__ = [
    "Manifest",
    "SizeGuard",
    "SizeMode",
    "ValueTooLargeError",
    "make_size_guard",
    "size_guard_contract",
    "split_utf8",
]
