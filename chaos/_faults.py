"""Fault values: what to do to a connection or a process, as frozen, hashable data.

Network faults are Toxiproxy toxics in cachecheck's vocabulary, with units in their names:

| fault | toxic | meaning |
|---|---|---|
| `Latency(ms, jitter_ms)` | latency | each chunk is delayed ms ± jitter_ms |
| `Bandwidth(kb_per_s)` | bandwidth | at most kb_per_s * 1000 bytes/s; 0 holds all data |
| `SlowClose(ms)` | slow_close | the close reaches the other side ms later |
| `Timeout(ms)` | timeout | data is dropped; with ms > 0 the connection closes after ms of silence |
| `ResetPeer(ms)` | reset_peer | on the first data, wait ms, then reset (RST) the connection |
| `Slicer(average_size, size_variation, delay_us)` | slicer | chunks are cut in small pieces |
| `LimitData(bytes)` | limit_data | the connection closes after `bytes` bytes |
| `Down()` | (proxy disabled) | new connections are refused, open ones closed |

`stream` says which way the toxic acts: `DOWNSTREAM` (server to client, Toxiproxy's
default), `UPSTREAM` (client to server) or `BOTH` (two toxics). `toxicity` is the probability
that the toxic applies to a connection.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any, ClassVar


class Direction(enum.Enum):
    """Which way a toxic acts."""

    UPSTREAM = "upstream"  # client -> server (requests)
    DOWNSTREAM = "downstream"  # server -> client (replies)
    BOTH = "both"

    def streams(self) -> tuple[str, ...]:
        if self is Direction.BOTH:
            return ("upstream", "downstream")
        return (self.value,)

    def __repr__(self) -> str:
        return f"Direction.{self.name}"


@dataclass(frozen=True, slots=True)
class ToxicSpec:
    """One toxic to create: the body of `POST /proxies/{p}/toxics`."""

    type: str
    stream: str
    attributes: Mapping[str, int]
    toxicity: float = 1.0
    name: str | None = None

    @property
    def toxic_name(self) -> str:
        """The name the server gives it (Toxiproxy's default is `<type>_<stream>`)."""
        return self.name or f"{self.type}_{self.stream}"

    def body(self) -> dict[str, Any]:
        return {
            "name": self.toxic_name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


class Fault:
    """Base of every fault value."""

    __slots__ = ()

    #: Short kind name used in reports and by the Hypothesis strategies.
    kind: ClassVar[str] = "fault"

    def toxics(self) -> tuple[ToxicSpec, ...]:
        """The toxics this fault is made of (none for faults that are not toxics)."""
        return ()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}  # type: ignore[arg-type]

    def __repr__(self) -> str:
        shown = []
        # Positional fields first, as the constructor takes them.
        for f in sorted(fields(self), key=lambda f: bool(f.kw_only)):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value != f.default:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


@dataclass(frozen=True, slots=True, repr=False)
class ToxicFault(Fault):
    """A fault made of one toxic per stream."""

    _: KW_ONLY
    stream: Direction = Direction.DOWNSTREAM
    toxicity: float = 1.0
    name: str | None = None

    toxic_type: ClassVar[str] = "noop"

    def __post_init__(self) -> None:
        if not isinstance(self.stream, Direction):
            raise TypeError(
                f"{type(self).__name__}(stream=...) takes a Direction, got {self.stream!r}"
            )
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"{type(self).__name__}(toxicity={self.toxicity!r}): use 0.0 to 1.0")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{type(self).__name__}({f.name}={value!r}): use an int >= 0")

    def attributes(self) -> dict[str, int]:
        return {}

    def toxics(self) -> tuple[ToxicSpec, ...]:
        streams = self.stream.streams()
        return tuple(
            ToxicSpec(
                self.toxic_type,
                stream,
                self.attributes(),
                self.toxicity,
                None if self.name is None else _stream_name(self.name, stream, len(streams)),
            )
            for stream in streams
        )


def _stream_name(name: str, stream: str, count: int) -> str:
    return name if count == 1 else f"{name}_{stream}"


@dataclass(frozen=True, slots=True, repr=False)
class Latency(ToxicFault):
    """Delay every chunk by `ms` ± `jitter_ms` (one way; use `stream=Direction.BOTH` for RTT)."""

    ms: int
    jitter_ms: int = 0
    kind: ClassVar[str] = "latency"
    toxic_type: ClassVar[str] = "latency"

    def attributes(self) -> dict[str, int]:
        return {"latency": self.ms, "jitter": self.jitter_ms}


@dataclass(frozen=True, slots=True, repr=False)
class Bandwidth(ToxicFault):
    """Limit throughput to `kb_per_s` KB/s (KB = 1000 bytes). 0 holds every byte until the
    fault is lifted, then delivers it: the connection stalls but loses nothing."""

    kb_per_s: int
    kind: ClassVar[str] = "bandwidth"
    toxic_type: ClassVar[str] = "bandwidth"

    def attributes(self) -> dict[str, int]:
        return {"rate": self.kb_per_s}


@dataclass(frozen=True, slots=True, repr=False)
class SlowClose(ToxicFault):
    """Delay the close of the connection by `ms` (data passes untouched)."""

    ms: int
    kind: ClassVar[str] = "slow_close"
    toxic_type: ClassVar[str] = "slow_close"

    def attributes(self) -> dict[str, int]:
        return {"delay": self.ms}


@dataclass(frozen=True, slots=True, repr=False)
class Timeout(ToxicFault):
    """Drop all data. With `ms` > 0 the connection is closed after `ms` without traffic; with
    0 it stays open and silent. Lifting the fault closes every connection it touched (the
    stream lost data), as Toxiproxy does."""

    ms: int = 0
    kind: ClassVar[str] = "timeout"
    toxic_type: ClassVar[str] = "timeout"

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.ms}


@dataclass(frozen=True, slots=True, repr=False)
class ResetPeer(ToxicFault):
    """On the first data after it applies: drop it, wait `ms`, reset the connection. The
    reset is an RST (ECONNRESET) for connections opened while the fault was active."""

    ms: int = 0
    kind: ClassVar[str] = "reset_peer"
    toxic_type: ClassVar[str] = "reset_peer"

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.ms}


@dataclass(frozen=True, slots=True, repr=False)
class Slicer(ToxicFault):
    """Cut chunks into pieces of about `average_size` ± `size_variation` bytes, `delay_us`
    microseconds apart (exercises partial reads). Needs 0 <= size_variation < average_size."""

    average_size: int
    size_variation: int = 0
    delay_us: int = 0
    kind: ClassVar[str] = "slicer"
    toxic_type: ClassVar[str] = "slicer"

    def __post_init__(self) -> None:
        ToxicFault.__post_init__(self)
        if self.average_size <= 0 or self.size_variation >= self.average_size:
            raise ValueError(f"{self!r}: needs average_size > 0 and size_variation < average_size")

    def attributes(self) -> dict[str, int]:
        return {
            "average_size": self.average_size,
            "size_variation": self.size_variation,
            "delay": self.delay_us,
        }


@dataclass(frozen=True, slots=True, repr=False)
class LimitData(ToxicFault):
    """Close the connection once `bytes` bytes have passed in this direction."""

    bytes: int
    kind: ClassVar[str] = "limit_data"
    toxic_type: ClassVar[str] = "limit_data"

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.bytes}


@dataclass(frozen=True, slots=True, repr=False)
class Down(Fault):
    """Disable the proxy: open connections are closed, new ones refused (ECONNREFUSED)."""

    kind: ClassVar[str] = "down"


NETWORK_FAULTS: tuple[type[Fault], ...] = (
    Latency,
    Bandwidth,
    SlowClose,
    Timeout,
    ResetPeer,
    Slicer,
    LimitData,
    Down,
)


def flatten(faults: Iterable[Fault | Iterable[Fault]]) -> tuple[Fault, ...]:
    """Faults and groups of faults (presets) as one flat tuple."""
    flat: list[Fault] = []
    for item in faults:
        if isinstance(item, Fault):
            flat.append(item)
        else:
            flat.extend(flatten(item))
    return tuple(flat)


# -- presets ---------------------------------------------------------------------------------


def cut(direction: Direction = Direction.BOTH) -> tuple[Fault, ...]:
    """Hold all data: the connection stays open, nothing moves, nothing is lost. When lifted,
    the held data is delivered. (Bandwidth 0, as testcontainers' `setConnectionCut`.)"""
    return (Bandwidth(0, stream=direction),)


def blackhole(direction: Direction = Direction.BOTH) -> tuple[Fault, ...]:
    """Drop all data, silently and forever: the connection stays open and clients wait for
    their own timeouts. When lifted, every connection that saw it is closed. (Timeout 0.)"""
    return (Timeout(0, stream=direction),)


def partition(
    direction: Direction = Direction.BOTH, *, close_after_ms: int | None = None
) -> tuple[Fault, ...]:
    """A network partition between client and server, as a TCP client sees one: data in
    `direction` is dropped. `Direction.DOWNSTREAM` is the nasty one: requests (writes) reach
    the server, replies are lost. With `close_after_ms`, a connection is closed after that
    long without traffic, as a real TCP stack eventually gives up; otherwise it hangs.
    Lifting it closes the affected connections (their streams lost data)."""
    return (Timeout(close_after_ms or 0, stream=direction),)


def slow_link(
    latency_ms: int = 50, jitter_ms: int = 0, *, kb_per_s: int | None = None
) -> tuple[Fault, ...]:
    """A slow network: `latency_ms` ± `jitter_ms` each way (so about twice that per round
    trip), and optionally a bandwidth limit each way."""
    faults: list[Fault] = [Latency(latency_ms, jitter_ms, stream=Direction.BOTH)]
    if kb_per_s is not None:
        faults.append(Bandwidth(kb_per_s, stream=Direction.BOTH))
    return tuple(faults)
