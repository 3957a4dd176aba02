"""A proxy of the embedded server: its listener, its live connections and its toxics.

Everything here runs on the server's event loop thread and never awaits, so each API call is
atomic with respect to the data path. Accepting is done by hand (`add_reader` on the listening
socket) so that starting and stopping a proxy are synchronous, and stopping closes every
connection at once: asyncio's `Server.close()` would leave accepted connections open.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from typing import TYPE_CHECKING, Any

from ._address import format_address, resolve_listen, upstream_target
from ._apierror import TOXIC_NOT_FOUND, server_error
from ._connection import Connection
from ._toxic_model import DOWNSTREAM, UPSTREAM, ToxicDef

if TYPE_CHECKING:
    from ._link import Link

_BACKLOG = 128


class ServedProxy:
    """One proxy: `name`, `listen`, `upstream`, `enabled`, toxics per direction."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.rng = rng
        self._chains: tuple[list[ToxicDef], list[ToxicDef]] = ([], [])
        self._sock: socket.socket | None = None
        self.connections: set[Connection] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and listen; `listen` becomes the bound address. Raises ApiError 500 on failure."""
        address = resolve_listen(self.listen)
        try:
            sock = socket.socket(address.family, socket.SOCK_STREAM)
        except OSError as exc:
            raise server_error(f"listen tcp {address}: socket: {exc.strerror}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address.host, address.port))
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise server_error(f"listen tcp {address}: bind: {reason}") from None
        host, port = sock.getsockname()[:2]
        self.listen = format_address(host, port)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and every connection at once (peers see EOF, or RST after
        reset_peer set linger 0). Toxic definitions are kept."""
        if not self.enabled:
            return
        self.enabled = False
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    def _accept(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BACKLOG):
            try:
                client, _ = sock.accept()
            except OSError:
                # Nothing left to accept (EAGAIN), or out of descriptors (EMFILE): the client
                # waits in the backlog and the next readiness event tries again.
                return
            client.setblocking(False)
            self._open(client)

    def _open(self, client: socket.socket) -> None:
        conn = Connection(self, client, self.rng)
        self.connections.add(conn)
        try:
            host, port = upstream_target(self.upstream)
        except ValueError:
            conn.abort()
            return
        conn.task = asyncio.get_running_loop().create_task(conn.open(host, port))

    def forget(self, conn: Connection) -> None:
        self.connections.discard(conn)

    # -- toxics -------------------------------------------------------------------------------

    def chain(self, direction: int) -> list[ToxicDef]:
        return list(self._chains[direction])

    def toxics(self) -> list[ToxicDef]:
        """Upstream toxics first, then downstream, each in insertion order."""
        return [*self._chains[UPSTREAM], *self._chains[DOWNSTREAM]]

    def find_toxic(self, name: str) -> ToxicDef | None:
        return next((toxic for toxic in self.toxics() if toxic.name == name), None)

    def add_toxic(self, toxic: ToxicDef) -> None:
        self._chains[toxic.direction].append(toxic)
        for link in self._links(toxic.direction):
            link.add(toxic)

    def update_toxic(self, toxic: ToxicDef) -> None:
        chain = self._chains[toxic.direction]
        index = next(i for i, old in enumerate(chain) if old.name == toxic.name)
        chain[index] = toxic
        for link in self._links(toxic.direction):
            link.update(toxic)

    def remove_toxic(self, name: str) -> None:
        toxic = self.find_toxic(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND.error()
        self._chains[toxic.direction].remove(toxic)
        for link in self._links(toxic.direction):
            link.remove(name)

    def reset_toxics(self) -> None:
        """Remove every toxic, first to last, as Toxiproxy's `ResetToxics`."""
        for toxic in self.toxics():
            self.remove_toxic(toxic.name)

    def _links(self, direction: int) -> list[Link]:
        found = []
        for conn in list(self.connections):
            link = conn.link(direction)
            if link is not None:
                found.append(link)
        return found

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},  # Toxiproxy emits its untagged Logger field; kept for byte-compatibility
            "toxics": [toxic.to_json() for toxic in self.toxics()],
        }

    def describe(self) -> str:
        return f"<ServedProxy {self.name} {self.listen} -> {self.upstream}>"
