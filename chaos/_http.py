"""A small HTTP/1.1 server on asyncio streams, enough for the Toxiproxy API.

Bounded: request line and headers at most 64 KiB (431 beyond), bodies at most 1 MiB (413),
idle keep-alive connections closed after 60 s and slow requests after 15 s (Go's server
read timeout). Understands Content-Length, chunked bodies, `Expect: 100-continue` and
keep-alive; anything malformed gets `400 Bad Request` and a close, as Go's `net/http` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 60.0
READ_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # as sent: path and query, percent-encoded
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())
    close: bool = False  # close the connection after this response


Handler = Callable[[Request], Response]


class BadRequest(Exception):
    """The request cannot be parsed; answer `status` and close the connection."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


class HttpServer:
    """Serve `handler` on host:port. Handlers are synchronous: they run on the loop thread."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._ids = itertools.count(1)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound (host, port)."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        """Stop listening and drop every connection, idle or not."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # End normally: on 3.11 asyncio's start_server callback calls task.exception(),
            # which raises for a cancelled task and logs a spurious traceback.
            pass
        finally:
            self._connections.pop(task, None)
            writer.transport.abort()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request and answer it; returns whether the connection stays open."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, keep_alive, headers = _parse_head(head)
            async with asyncio.timeout(READ_TIMEOUT):
                body = await _read_body(reader, writer, headers)
        except asyncio.LimitOverrunError:
            await self._reject(writer, 431)
            return False
        except BadRequest as exc:
            await self._reject(writer, exc.status)
            return False
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                await self._reject(writer, 400)
            return False
        response = self._call(Request(method, target, headers, body))
        keep_alive = keep_alive and not response.close
        # One loop turn first: sockets the handler aborted (a proxy disabled or deleted) are
        # closed before the client hears the answer, as Go's synchronous Close() does.
        await asyncio.sleep(0)
        writer.write(self._encode(response, keep_alive, with_body=method != "HEAD"))
        await writer.drain()
        return keep_alive

    def _call(self, request: Request) -> Response:
        try:
            return self._handler(request)
        except Exception as exc:  # never let a handler bug kill the connection or the server
            body = f'{{"error":"internal error: {type(exc).__name__}","status":500}}\n'
            return Response(500, body.encode(), "text/plain; charset=utf-8")

    def _encode(self, response: Response, keep_alive: bool, *, with_body: bool = True) -> bytes:
        reason = HTTPStatus(response.status).phrase
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        if response.content_type is not None:
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"X-Toxiproxy-Request-Id: {next(self._ids):020x}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        if response.status != 204:
            lines.append(f"Content-Length: {len(response.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + response.body if with_body else head

    async def _reject(self, writer: asyncio.StreamWriter, status: int) -> None:
        text = f"{status} {HTTPStatus(status).phrase}"
        head = (
            f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode("latin-1") + text.encode())
            await writer.drain()


def _parse_head(head: bytes) -> tuple[str, str, bool, dict[str, str]]:
    """Parse the request line and headers: (method, target, keep_alive, headers)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest() from None
    line, *header_lines = text[:-4].split("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise BadRequest()
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505 if version.startswith("HTTP/") else 400)
    headers: dict[str, str] = {}
    for header in header_lines:
        name, colon, value = header.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest()
        key = name.lower()
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told not to.
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return method, target, keep_alive, headers


async def _read_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
) -> bytes:
    encoding = headers.get("transfer-encoding", "").lower()
    length_text = headers.get("content-length")
    if encoding not in ("", "chunked"):
        raise BadRequest(501)
    if not encoding and length_text is None:
        return b""
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if encoding == "chunked":
        return await _read_chunked(reader)
    assert length_text is not None
    if not length_text.isdigit() or not length_text.isascii():
        raise BadRequest()
    length = int(length_text)
    if length > MAX_BODY:
        raise BadRequest(413)
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest() from None
        if size < 0 or len(body) + size > MAX_BODY:
            raise BadRequest(413 if size > 0 else 400)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers are ignored
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest()
