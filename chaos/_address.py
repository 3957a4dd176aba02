"""`host:port` strings as Toxiproxy reads them (Go's `net.SplitHostPort` and `net.Listen`).

The embedded server never looks a listen host up in DNS: it accepts IP literals and
`localhost`. An empty host means loopback here, not every interface (a documented divergence:
cachecheck's services listen on loopback unless told otherwise).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ._apierror import ApiError, server_error


@dataclass(frozen=True, slots=True)
class ListenAddress:
    family: socket.AddressFamily
    host: str  # an IP literal
    port: int

    def __str__(self) -> str:
        return format_address(self.host, self.port)


def split_host_port(text: str) -> tuple[str, str]:
    """Split `host:port` or `[v6]:port`; raise ValueError with Go's message."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"address {text}: missing ']' in address")
        host, rest = text[1:end], text[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {text}: missing port in address")
        return host, rest[1:]
    if ":" not in text:
        raise ValueError(f"address {text}: missing port in address")
    host, _, port = text.rpartition(":")
    if ":" in host:
        raise ValueError(f"address {text}: too many colons in address")
    return host, port


def parse_port(port: str) -> int:
    if not port.isdigit() or not port.isascii():
        raise ValueError(f"lookup tcp/{port}: unknown port")
    number = int(port)
    if number > 65535:
        raise ValueError(f"address {port}: invalid port")
    return number


def resolve_listen(listen: str) -> ListenAddress:
    """The address a proxy binds, or an ApiError 500 worded as Go's `listen tcp` errors."""
    if listen == "":  # Go's net.Listen("tcp", "") picks a free port; loopback here
        return ListenAddress(socket.AF_INET, "127.0.0.1", 0)
    try:
        host, port_text = split_host_port(listen)
        port = parse_port(port_text)
    except ValueError as exc:
        raise server_error(f"listen tcp: {exc}") from None
    if host in ("", "localhost"):
        return ListenAddress(socket.AF_INET, "127.0.0.1", port)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ApiError(
            500,
            f"listen tcp: lookup {host}: the embedded server listens only on IP addresses "
            "and localhost",
        ) from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return ListenAddress(family, str(ip), port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def same_listen(old: str, new: str) -> bool:
    """Equal after resolution (`localhost:x` is `127.0.0.1:x`); port 0 always differs."""
    if old == new and not old.endswith(":0"):
        return True
    try:
        a, b = resolve_listen(old), resolve_listen(new)
    except ApiError:
        return False
    return a == b and a.port != 0


def same_upstream(old: str, new: str) -> bool:
    """Equal as written, or after mapping `localhost` to `127.0.0.1`."""
    return old == new or _normal_upstream(old) == _normal_upstream(new)


def _normal_upstream(text: str) -> str:
    try:
        host, port = split_host_port(text)
    except ValueError:
        return text
    host = "127.0.0.1" if host == "localhost" else host
    return format_address(host, int(port)) if port.isdigit() else text


def upstream_target(upstream: str) -> tuple[str, int]:
    """The (host, port) to dial; raises ValueError for a malformed upstream."""
    host, port = split_host_port(upstream)
    return host or "127.0.0.1", parse_port(port)
