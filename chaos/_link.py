"""One direction of one proxied connection: source socket -> toxics -> destination socket.

Two paths:

- **fast**: no toxic is active on this link. `data_received` writes straight to the
  destination transport; no task, no queue, no timestamp.
- **slow**: chunks are queued with their receive time and one task per link (not per chunk)
  runs them through the toxics in order, one chunk at a time.

A chain change (add, update, remove) interrupts the toxic holding data, which forwards it at
once, and re-rolls toxicity where Toxiproxy re-runs a stub (`link.go`).
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._pipes import PIPES
from ._toxic_model import ToxicDef

if TYPE_CHECKING:
    from ._connection import Connection, Side

#: Toxics see chunks of at most 32 KiB, as Toxiproxy's `io.Copy` reads them.
CHUNK = 32 * 1024
#: Stop reading the source while this many bytes wait for the toxics (TCP back-pressure).
HIGH_WATER = 256 * 1024


class Interrupt(enum.Enum):
    """Why a toxic's wait ended early."""

    #: A toxic was appended after this one: held data goes straight out (Toxiproxy forwards it
    #: to the stub's old output before re-pointing it to the new toxic).
    ADDED = "added"
    #: This toxic, or the one after it, was updated or removed.
    CHANGED = "changed"


class Stub:
    """A toxic's state on one link."""

    __slots__ = (
        "active",
        "carry",
        "closed",
        "pending",
        "removed_at",
        "running",
        "sent",
        "timer",
        "toxic",
    )

    def __init__(self, toxic: ToxicDef, active: bool) -> None:
        self.toxic = toxic
        self.active = active  # the toxicity roll of this run; False runs a noop
        self.closed = False  # the toxic ended the stream: nothing passes any more
        self.running = False  # a chunk is inside this toxic's pipe
        self.pending: Interrupt | None = None  # an interrupt that came while not sleeping
        self.removed_at = 0  # chain index it had when removed (where held data goes)
        self.sent = 0  # limit_data: bytes forwarded; survives updates, as Toxiproxy's state
        self.carry = 0.0  # bandwidth: accumulated sleep of this run
        self.timer: asyncio.TimerHandle | None = None  # timeout: closes the link when it fires


def roll(rng: random.Random, toxicity: float) -> bool:
    """Toxiproxy's `rand.Float32() < toxicity`; no draw when the answer is certain."""
    if toxicity >= 1:
        return True
    if toxicity <= 0:
        return False
    return rng.random() < toxicity


class Link:
    """See the module docstring. Lives on the server's event loop thread only."""

    __slots__ = (
        "_dest_paused",
        "_ready",
        "_sleeping",
        "_source_paused",
        "_waiter",
        "conn",
        "dest",
        "dest_closed",
        "dest_transport",
        "direction",
        "eof_fed",
        "fast",
        "finished",
        "loop",
        "queue",
        "queued",
        "rng",
        "runner",
        "source",
        "stubs",
    )

    def __init__(
        self,
        conn: Connection,
        direction: int,
        source: Side,
        dest: Side,
        toxics: Sequence[ToxicDef],
        rng: random.Random,
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.dest = dest
        assert dest.transport is not None
        self.dest_transport: asyncio.Transport = dest.transport
        self.rng = rng
        self.loop = asyncio.get_running_loop()
        self.queue: deque[tuple[bytes | None, float, int]] = deque()
        self.queued = 0
        self.runner: asyncio.Task[None] | None = None
        self.fast = True
        self.finished = False  # the end of stream reached the destination
        self.eof_fed = False
        self.dest_closed = False
        self._dest_paused = False
        self._source_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._sleeping: tuple[Stub, asyncio.Future[Interrupt | None]] | None = None
        self.stubs = [Stub(toxic, roll(rng, toxic.toxicity)) for toxic in toxics]
        for stub in self.stubs:
            self._begin(stub)
        self._refresh()

    # -- input from the source socket ---------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """A chunk from the source (the slow path; `Side.data_received` inlines the fast one)."""
        if self.fast:
            if not self.dest_closed:
                self.dest_transport.write(data)
            return
        now = time.monotonic()
        for start in range(0, len(data), CHUNK):
            piece = data[start : start + CHUNK] if len(data) > CHUNK else data
            self.queue.append((piece, now, 0))
        self.queued += len(data)
        self._throttle()
        self._wake()

    def feed_eof(self) -> None:
        """The source ended (FIN, reset or closed by us): the end of stream enters the chain."""
        if self.eof_fed or self.finished:
            return
        self.eof_fed = True
        if self.fast:
            self._finish()
        else:
            self.queue.append((None, time.monotonic(), 0))
            self._wake()

    def inject_eof(self, index: int) -> None:
        """End the stream from chain position `index` on, ahead of queued input (a timeout
        toxic closing: what waits before it would never get through)."""
        if self.finished:
            return
        self.queue.appendleft((None, time.monotonic(), index))
        self.fast = False
        self._wake()

    # -- output to the destination socket -----------------------------------------------------

    def dest_paused(self) -> None:
        self._dest_paused = True
        self._throttle()

    def dest_resumed(self) -> None:
        self._dest_paused = False
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        self._throttle()

    def dest_lost(self) -> None:
        self.dest_closed = True
        self.dest_resumed()

    async def _deliver(self, data: bytes | None) -> None:
        if self.finished:
            return
        if data is None:
            self._finish()
            return
        if self._dest_paused and not self.dest_closed:
            self._ready = self.loop.create_future()
            await self._ready
        if not self.dest_closed:
            self.dest_transport.write(data)

    def _finish(self) -> None:
        self.finished = True
        self.conn.close_destination(self)

    def _throttle(self) -> None:
        """Pause the source while the destination or the queue is full."""
        want = self._dest_paused or self.queued > HIGH_WATER
        transport = self.source.transport
        if want == self._source_paused or transport is None or transport.is_closing():
            return
        self._source_paused = want
        if want:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # -- the slow path ------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Choose the path: fast when no toxic is active and nothing is queued or running."""
        if self.finished:
            return
        if self.runner is None and not self.queue and not any(s.active for s in self.stubs):
            self.fast = True
        else:
            self.fast = False
            self._wake()

    def _wake(self) -> None:
        if self.runner is None:
            if not self.finished:
                self.runner = self.loop.create_task(self._run())
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _run(self) -> None:
        try:
            while not self.finished:
                if not self.queue:
                    if not any(stub.active for stub in self.stubs):
                        self.fast = True  # nothing can delay data any more
                        return
                    self._waiter = self.loop.create_future()
                    await self._waiter
                    continue
                data, ts, index = self.queue.popleft()
                if data is not None:
                    self.queued -= len(data)
                    self._throttle()
                await self._flow(index, data, ts)
        finally:
            self.runner = None
            self._waiter = None

    async def _flow(self, index: int, data: bytes | None, ts: float) -> None:
        """Pass a chunk through the chain from position `index`, then to the destination."""
        while True:
            stubs = self.stubs
            if index >= len(stubs):
                await self._deliver(data)
                return
            stub = stubs[index]
            if stub.closed:
                return
            if stub.active:
                stub.running = True
                try:
                    await PIPES[stub.toxic.type](self, stub, data, ts)
                finally:
                    stub.running = False
                    stub.pending = None
                return
            index += 1

    # -- the API pipes use --------------------------------------------------------------------

    async def emit(self, stub: Stub, data: bytes | None, ts: float) -> None:
        """Pass output of `stub` to the toxics after it."""
        try:
            index = self.stubs.index(stub) + 1
        except ValueError:  # removed while holding data: its successor took its place
            index = stub.removed_at
        await self._flow(index, data, ts)

    async def forward_held(
        self, stub: Stub, reason: Interrupt, data: bytes | None, ts: float
    ) -> None:
        """Forward what an interrupted toxic held, without the rest of its delay."""
        if reason is Interrupt.ADDED:
            await self._deliver(data)
        else:
            await self.emit(stub, data, ts)

    async def sleep(self, stub: Stub, seconds: float) -> Interrupt | None:
        """Wait, unless the chain changes first; returns the interrupt reason, if any."""
        if stub.pending is not None:
            reason, stub.pending = stub.pending, None
            return reason
        if seconds <= 0:
            return None
        done: asyncio.Future[Interrupt | None] = self.loop.create_future()
        handle = self.loop.call_later(seconds, _resolve, done, None)
        self._sleeping = (stub, done)
        try:
            return await done
        finally:
            handle.cancel()
            self._sleeping = None

    def arm_timeout(self, stub: Stub) -> None:
        """(Re)start a timeout toxic's timer: it closes the link after `timeout` ms of silence."""
        if stub.timer is not None:
            stub.timer.cancel()
            stub.timer = None
        delay = stub.toxic.attr("timeout")
        if stub.active and delay > 0 and not stub.closed and not self.finished:
            stub.timer = self.loop.call_later(delay / 1000, self._timeout_fired, stub)

    def _timeout_fired(self, stub: Stub) -> None:
        stub.timer = None
        if stub in self.stubs and not stub.closed:
            stub.closed = True
            self.inject_eof(self.stubs.index(stub) + 1)

    # -- chain changes (from the API, on the loop thread) -------------------------------------

    def add(self, toxic: ToxicDef) -> None:
        if self.finished:
            return
        if self.stubs:
            last = self.stubs[-1]
            self._interrupt(last, Interrupt.ADDED)
            self._rerun(last, last.toxic)
        stub = Stub(toxic, roll(self.rng, toxic.toxicity))
        self.stubs = [*self.stubs, stub]
        self._begin(stub)
        self._refresh()

    def update(self, toxic: ToxicDef) -> None:
        stub = self._find(toxic.name)
        if stub is None or self.finished:
            return
        self._interrupt(stub, Interrupt.CHANGED)
        self._rerun(stub, toxic)
        self._refresh()

    def remove(self, name: str) -> None:
        stub = self._find(name)
        if stub is None:
            return
        index = self.stubs.index(stub)
        self._interrupt(stub, Interrupt.CHANGED)
        self._cancel_timer(stub)
        self.stubs = [*self.stubs[:index], *self.stubs[index + 1 :]]
        stub.removed_at = index
        if stub.toxic.type == "timeout" and not stub.closed:
            # Data was dropped, so the stream is corrupt: Toxiproxy closes the connection even
            # where toxicity rolled a noop (TestTimeoutToxicClosesConnectionOnRemove).
            stub.closed = True
            self.inject_eof(index)
        if index > 0:
            previous = self.stubs[index - 1]
            self._interrupt(previous, Interrupt.CHANGED)
            self._rerun(previous, previous.toxic)
        self._refresh()

    def stop(self) -> None:
        """Cancel the runner and timers (the connection is closing)."""
        self.finished = True
        for stub in self.stubs:
            self._cancel_timer(stub)
        if self.runner is not None:
            self.runner.cancel()
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()

    def _find(self, name: str) -> Stub | None:
        return next((stub for stub in self.stubs if stub.toxic.name == name), None)

    def _interrupt(self, stub: Stub, reason: Interrupt) -> None:
        sleeping = self._sleeping
        if sleeping is not None and sleeping[0] is stub and not sleeping[1].done():
            sleeping[1].set_result(reason)
        elif stub.running:
            # Not waiting, or its timer fired but the pipe has not resumed yet: the pipe's
            # next sleep returns at once (losing this interrupt would hold data forever).
            stub.pending = reason

    def _rerun(self, stub: Stub, toxic: ToxicDef) -> None:
        stub.toxic = toxic
        stub.active = roll(self.rng, toxic.toxicity)
        stub.carry = 0.0
        self._begin(stub)

    def _begin(self, stub: Stub) -> None:
        if stub.toxic.type == "timeout":
            self.arm_timeout(stub)

    @staticmethod
    def _cancel_timer(stub: Stub) -> None:
        if stub.timer is not None:
            stub.timer.cancel()
            stub.timer = None


def _resolve(future: asyncio.Future[Interrupt | None], value: Interrupt | None) -> None:
    if not future.done():
        future.set_result(value)
