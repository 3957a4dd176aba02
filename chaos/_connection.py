"""A proxied connection: the accepted client socket, the dialled upstream socket, two links.

As in Toxiproxy (`proxy.go`): the upstream is dialled after accept; if that fails the client
is closed (it sees EOF, not a refusal). An end of stream in one direction closes the
destination fully after the toxics flush; the other direction then sees its source closed and
closes too, so a half-close ends in a full close of both sides.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING

from ._link import Link
from ._toxic_model import DOWNSTREAM, UPSTREAM, ToxicDef

if TYPE_CHECKING:
    import random

    from ._proxy import ServedProxy

#: Go's writer gives a closing socket 5 s to take its last bytes; so do we, then abort.
_FLUSH_GRACE = 5.0
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Side(asyncio.Protocol):
    """One socket of a connection. `reader` is the link it feeds, `writer` the one feeding it."""

    __slots__ = ("conn", "lost", "reader", "role", "transport", "writer")

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role
        self.transport: asyncio.Transport | None = None
        self.reader: Link | None = None
        self.writer: Link | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until both sides exist and the links are wired

    def data_received(self, data: bytes) -> None:
        link = self.reader
        if link is None:
            return
        if link.fast:  # the fast path, inlined: one attribute check and a write
            if not link.dest_closed:
                link.dest_transport.write(data)
            return
        link.feed(data)

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.feed_eof()
        return True  # keep the socket open: the other direction may still be delivering

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.conn.side_lost(self)

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.dest_paused()

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.dest_resumed()


class Connection:
    """Both sockets and both links of one client connection through a proxy."""

    def __init__(self, proxy: ServedProxy, client_sock: socket.socket, rng: random.Random) -> None:
        self.proxy = proxy
        self.rng = rng
        self._client_sock: socket.socket | None = client_sock
        self.client: Side | None = None
        self.upstream: Side | None = None
        self.links: tuple[Link, Link] | None = None
        self.task: asyncio.Task[None] | None = None
        self.done = False

    async def open(self, host: str, port: int) -> None:
        """Dial the upstream, wrap the client socket, wire the links."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self._side("upstream"), host, port)
        except asyncio.CancelledError:
            raise
        except Exception:  # any dial failure: Toxiproxy closes the client (EOF, not refused)
            self.abort()
            return
        sock, self._client_sock = self._client_sock, None
        if sock is None or self.done:
            self.abort()
            return
        try:
            await loop.connect_accepted_socket(lambda: self._side("client"), sock)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away meanwhile
            sock.close()
            self.abort()
            return
        if self.done or self.client is None or self.upstream is None:
            self.abort()
            return
        if self.client.lost or self.upstream.lost:
            self.abort()
            return
        self._wire()

    def _side(self, role: str) -> Side:
        side = Side(self, role)
        if role == "client":
            self.client = side
        else:
            self.upstream = side
        return side

    def _wire(self) -> None:
        assert self.client is not None and self.upstream is not None
        up_chain = self.proxy.chain(UPSTREAM)
        down_chain = self.proxy.chain(DOWNSTREAM)
        if _has_reset_peer(up_chain) or _has_reset_peer(down_chain):
            # Toxiproxy sets linger 0 on both sockets at link start only: closes become RSTs,
            # even when the toxic's toxicity rolls a noop (TP#603).
            self._linger_zero()
        up = Link(self, UPSTREAM, self.client, self.upstream, up_chain, self.rng)
        down = Link(self, DOWNSTREAM, self.upstream, self.client, down_chain, self.rng)
        self.links = (up, down)
        self.client.reader, self.client.writer = up, down
        self.upstream.reader, self.upstream.writer = down, up
        for side in (self.client, self.upstream):
            assert side.transport is not None
            side.transport.resume_reading()

    def _linger_zero(self) -> None:
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                sock = side.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)

    def link(self, direction: int) -> Link | None:
        return None if self.links is None else self.links[direction]

    def close_destination(self, link: Link) -> None:
        """The end of stream reached `link`'s destination: close that socket fully."""
        link.dest_closed = True
        transport = link.dest_transport
        if transport.is_closing():
            return
        transport.close()
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(_FLUSH_GRACE, transport.abort)

    def side_lost(self, side: Side) -> None:
        if side.reader is not None:
            side.reader.feed_eof()
        if side.writer is not None:
            side.writer.dest_lost()
        client, upstream = self.client, self.upstream
        if client is not None and upstream is not None and client.lost and upstream.lost:
            self._forget()

    def abort(self) -> None:
        """Close both sockets now (proxy disabled or deleted, or a failed dial)."""
        task = self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if self._client_sock is not None:
            self._client_sock.close()
            self._client_sock = None
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                side.transport.abort()
        self._forget()

    def _forget(self) -> None:
        if self.done:
            return
        self.done = True
        if self.links is not None:
            for link in self.links:
                link.stop()
        self.proxy.forget(self)


def _has_reset_peer(chain: list[ToxicDef]) -> bool:
    return any(toxic.type == "reset_peer" for toxic in chain)
