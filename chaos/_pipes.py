"""What each toxic does to one chunk (or to the end of the stream, `data is None`).

A pipe receives a chunk and its receive time `ts`, and passes what it lets through on with
`link.emit`. Waiting goes through `link.sleep`, which returns an interrupt reason when the
toxic chain changes mid-wait; the pipe then forwards what it holds at once, without the rest
of its delay, as Toxiproxy's `Pipe` functions do. Times in attributes are milliseconds, except
`slicer.delay` (microseconds); bandwidth `rate` is KB/s with KB = 1000 bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._link import Link, Stub

Pipe = Callable[["Link", "Stub", "bytes | None", float], Awaitable[None]]

_NS = 1_000_000_000


async def noop(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    await link.emit(stub, data, ts)


async def latency(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Release each chunk at receive time + latency ± jitter (not cumulative across chunks)."""
    if data is None:
        await link.emit(stub, None, ts)
        return
    delay = stub.toxic.attr("latency") / 1000
    jitter_ns = stub.toxic.attr("jitter") * 1_000_000
    if jitter_ns > 0:
        # Uniform in [latency - jitter, latency + jitter), as Go's rand.Int63n(2*jitter) - jitter.
        delay += (link.rng.randrange(2 * jitter_ns) - jitter_ns) / _NS
    sleep = delay - (time.monotonic() - ts)
    reason = await link.sleep(stub, sleep)
    if reason is not None:
        await link.forward_held(stub, reason, data, ts)
        return
    # The timestamp moves by the sleep, so a second latency toxic adds up (Toxiproxy PR #94).
    await link.emit(stub, data, ts + sleep)


async def bandwidth(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Limit to `rate` KB/s: pieces of rate*100 bytes every 100 ms, the rest after its share.

    `rate` 0 holds the chunk until the toxic is removed or updated (data is kept, not dropped).
    """
    if data is None:
        await link.emit(stub, None, ts)
        return
    rate = stub.toxic.attr("rate")
    stub.carry = 0.0 if rate <= 0 else stub.carry + len(data) / rate / 1000
    piece, offset = rate * 100, 0
    while len(data) - offset > piece:
        reason = await link.sleep(stub, 0.1)
        if reason is not None:
            await link.forward_held(stub, reason, data[offset:], ts)
            return
        if piece > 0:  # rate 0: Toxiproxy emits empty chunks here; writing nothing is the same
            await link.emit(stub, data[offset : offset + piece], ts)
            offset += piece
            stub.carry -= 0.1
    started = time.monotonic()
    reason = await link.sleep(stub, stub.carry)
    if reason is not None:
        await link.forward_held(stub, reason, data[offset:], ts)
        return
    # Timers overshoot a little; take the error off the next sleep, as Toxiproxy does.
    stub.carry -= time.monotonic() - started
    await link.emit(stub, data[offset:], ts)


async def slow_close(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Pass data; delay the end of the stream by `delay` ms (an interrupt closes at once)."""
    if data is None:
        await link.sleep(stub, stub.toxic.attr("delay") / 1000)
    await link.emit(stub, data, ts)


async def timeout(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Drop data. With `timeout` > 0 the link's timer closes the connection after that many
    ms without a chunk; each dropped chunk restarts it (see `Link.arm_timeout`)."""
    if data is None:
        stub.closed = True
        await link.emit(stub, None, ts)
        return
    link.arm_timeout(stub)


async def reset_peer(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """On the first chunk (or end of stream): drop it, wait `timeout` ms, close.

    The wait is not interruptible, as in Toxiproxy; the close is a TCP RST when the toxic
    existed when the connection was opened (SO_LINGER 0 was set then).
    """
    stub.closed = True
    await asyncio.sleep(max(stub.toxic.attr("timeout"), 0) / 1000)
    await link.emit(stub, None, ts)


async def slicer(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Split each chunk into pieces of about average_size ± size_variation bytes, with
    `delay` µs after each piece."""
    if data is None:
        await link.emit(stub, None, ts)
        return
    delay = max(stub.toxic.attr("delay"), 0) / 1_000_000
    bounds = slice_bounds(
        len(data), stub.toxic.attr("average_size"), stub.toxic.attr("size_variation"), link
    )
    for start, end in bounds:
        await link.emit(stub, data[start:end], ts)
        reason = await link.sleep(stub, delay)
        if reason is not None:
            if end < len(data):
                await link.forward_held(stub, reason, data[end:], ts)
            return


def slice_bounds(size: int, average: int, variation: int, link: Link) -> list[tuple[int, int]]:
    """Toxiproxy's recursive halving, iteratively: split [0, size) at its middle ± variation
    until every piece is at most average + variation bytes. Needs 0 <= variation < average."""
    pending, done = [(0, size)], []
    while pending:
        start, end = pending.pop()
        if (end - start) - average <= variation:
            done.append((start, end))
            continue
        middle = start + (end - start) // 2
        if variation > 0:
            middle += link.rng.randrange(2 * variation) - variation
        pending.append((middle, end))  # popped after the left half: pieces stay in order
        pending.append((start, middle))
    return done


async def limit_data(link: Link, stub: Stub, data: bytes | None, ts: float) -> None:
    """Forward up to `bytes` bytes in total on this link (counted across updates), then close."""
    if data is None:
        stub.closed = True
        await link.emit(stub, None, ts)
        return
    limit = stub.toxic.attr("bytes")
    remaining = max(limit - stub.sent, 0)
    if remaining < len(data):
        data = data[:remaining]
    if data:
        stub.sent += len(data)
        await link.emit(stub, data, ts)
    if limit - stub.sent <= 0:
        stub.closed = True
        await link.emit(stub, None, ts)


PIPES: dict[str, Pipe] = {
    "noop": noop,
    "latency": latency,
    "bandwidth": bandwidth,
    "slow_close": slow_close,
    "timeout": timeout,
    "reset_peer": reset_peer,
    "slicer": slicer,
    "limit_data": limit_data,
}
