"""A typed client for the Toxiproxy HTTP API: real Toxiproxy (binary, container, a URL) and
the embedded server alike.

```python
client = ToxiproxyClient("http://127.0.0.1:8474")
proxy = client.create_proxy("redis", upstream="127.0.0.1:6379")
with proxy.fault(Latency(ms=100)):
    ...  # every reply through proxy.host:proxy.port is 100 ms late
```

Stdlib only (`http.client`), one keep-alive connection per client guarded by a lock, a
timeout on every request, errors as `ToxiproxyError` subclasses carrying the server's status
and message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit

from cachecheck._errors import CachecheckError

from ._faults import Down, Fault, ToxicSpec, flatten

if TYPE_CHECKING:
    from cachecheck._history import History

DEFAULT_API_URL = "http://127.0.0.1:8474"
_USER_AGENT = "cachecheck-toxiproxy-client/1"  # must not start with Mozilla/ (403)


class ToxiproxyError(CachecheckError):
    """The Toxiproxy API answered an error (or could not be reached: status 0)."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {message}" if status else f"{where}{message}")
        self.status = status
        self.message = message


class ToxiproxyNotFound(ToxiproxyError):
    """404: no such proxy or toxic."""


class ToxiproxyConflict(ToxiproxyError):
    """409: a proxy or toxic of that name exists."""


class ToxiproxyBadRequest(ToxiproxyError):
    """400: the server refused the request body."""


_ERRORS: Mapping[int, type[ToxiproxyError]] = {
    400: ToxiproxyBadRequest,
    404: ToxiproxyNotFound,
    409: ToxiproxyConflict,
}


class ToxiproxyClient:
    """A client for one Toxiproxy API.

    Args:
        api_url: e.g. `http://127.0.0.1:8474`; default `$TOXIPROXY_URL`, else that.
        timeout: seconds for connecting and for each response.
    """

    def __init__(self, api_url: str | None = None, *, timeout: float = 10.0) -> None:
        self.api_url = (api_url or os.environ.get("TOXIPROXY_URL") or DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ToxiproxyClient: {self.api_url!r} is not an http:// URL")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._https = parts.scheme == "https"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # -- server ---------------------------------------------------------------------------

    def version(self) -> str:
        """The server version, from JSON (2.7+) or plain text (older servers)."""
        raw: bytes = self.request("GET", "/version", parse=False)
        text = raw.decode(errors="replace").strip()
        with contextlib.suppress(ValueError, AttributeError):
            version: object = json.loads(text)["version"]
            return str(version)
        return text

    def answers(self) -> bool:
        """True when `/version` answers (a cheap readiness probe)."""
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def reset(self) -> None:
        """`POST /reset`: enable every proxy and remove every toxic (proxies are kept)."""
        self.request("POST", "/reset")

    # -- proxies --------------------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        data = self.request("GET", "/proxies")
        return {name: Proxy(self, item) for name, item in data.items()}

    def proxy(self, name: str) -> Proxy:
        """The proxy called `name`; raises `ToxiproxyNotFound`."""
        return Proxy(self, self.request("GET", f"/proxies/{_q(name)}"))

    def create_proxy(
        self, name: str, upstream: str, *, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> Proxy:
        """Create a proxy; `listen` port 0 picks a free port (see `Proxy.port`)."""
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return Proxy(self, self.request("POST", "/proxies", body))

    def populate(self, proxies: Iterable[Mapping[str, Any]]) -> list[Proxy]:
        """`POST /populate`: create or replace the proxies described (name, upstream, ...)."""
        data = self.request("POST", "/populate", [dict(item) for item in proxies])
        return [Proxy(self, item) for item in data.get("proxies") or ()]

    # -- transport ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, parse: bool = True) -> Any:
        """Send one request; returns the parsed JSON (None when empty) or raw bytes."""
        payload = None if body is None else json.dumps(body).encode()
        status, data = self._exchange(method, path, payload)
        if status >= 400:
            raise _error(status, data, method, path)
        if not parse:
            return data
        return json.loads(data) if data.strip() else None

    def _exchange(self, method: str, path: str, payload: bytes | None) -> tuple[int, bytes]:
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            for attempt in (1, 2):
                conn, reused = self._connection()
                try:
                    conn.request(method, path, body=payload, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except (
                    http.client.RemoteDisconnected,
                    BrokenPipeError,
                    ConnectionResetError,
                ) as exc:
                    self._drop()
                    if reused and attempt == 1:
                        continue  # the server closed an idle keep-alive connection: retry once
                    raise ToxiproxyError(
                        0, f"{self.api_url} closed the connection ({exc})", method=method, path=path
                    ) from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    raise ToxiproxyError(
                        0, f"cannot reach {self.api_url}: {exc}", method=method, path=path
                    ) from exc
                if response.will_close:
                    self._drop()
                return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            return self._conn, True
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn, False

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the keep-alive connection (the client reconnects if used again)."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.api_url!r})"


def _q(name: str) -> str:
    return quote(name, safe="")


def _error(status: int, data: bytes, method: str, path: str) -> ToxiproxyError:
    message = data.decode(errors="replace").strip()
    with contextlib.suppress(ValueError, TypeError, KeyError):
        message = str(json.loads(message)["error"])  # JSON whatever the content type says
    return _ERRORS.get(status, ToxiproxyError)(status, message, method=method, path=path)


class Toxic:
    """A toxic on a proxy, as the server last reported it."""

    def __init__(self, proxy: Proxy, data: Mapping[str, Any]) -> None:
        self.proxy = proxy
        self.name: str = data["name"]
        self.type: str = data["type"]
        self.stream: str = data["stream"]
        self.toxicity: float = float(data.get("toxicity", 1.0))
        self.attributes: dict[str, Any] = dict(data.get("attributes") or {})

    def update(self, *, toxicity: float | None = None, **attributes: int) -> Toxic:
        """Change attributes (a partial update merges) and/or toxicity."""
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        data = self.proxy.client.request("POST", f"{self._path}", body)
        return Toxic(self.proxy, data)

    def remove(self) -> None:
        self.proxy.client.request("DELETE", self._path)

    @property
    def _path(self) -> str:
        return f"/proxies/{_q(self.proxy.name)}/toxics/{_q(self.name)}"

    def __repr__(self) -> str:
        return (
            f"<Toxic {self.name} {self.type} {self.stream} toxicity={self.toxicity} "
            f"{self.attributes}>"
        )


class Proxy:
    """A proxy on a Toxiproxy server. Fields are a snapshot; `refresh()` reloads them."""

    def __init__(self, client: ToxiproxyClient, data: Mapping[str, Any]) -> None:
        self.client = client
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> Self:
        self.name: str = data["name"]
        self.listen: str = data["listen"]
        self.upstream: str = data["upstream"]
        self.enabled: bool = bool(data["enabled"])
        self._toxics = [Toxic(self, item) for item in data.get("toxics") or ()]
        return self

    @property
    def host(self) -> str:
        """Where clients connect (a wildcard listen address maps to loopback)."""
        host = self.listen.rpartition(":")[0].strip("[]")
        return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def _path(self) -> str:
        return f"/proxies/{_q(self.name)}"

    # -- the proxy ------------------------------------------------------------------------

    def refresh(self) -> Self:
        return self._load(self.client.request("GET", self._path))

    def update(
        self, *, listen: str | None = None, upstream: str | None = None, enabled: bool | None = None
    ) -> Self:
        """Change listen, upstream and/or enabled (POST, which every 2.x server accepts)."""
        body = {
            k: v
            for k, v in (("listen", listen), ("upstream", upstream), ("enabled", enabled))
            if v is not None
        }
        return self._load(self.client.request("POST", self._path, body))

    def enable(self) -> Self:
        return self.update(enabled=True)

    def disable(self) -> Self:
        """Close the listener and every connection; new connections are refused."""
        return self.update(enabled=False)

    def delete(self) -> None:
        self.client.request("DELETE", self._path)

    def clear(self) -> None:
        """Remove every toxic of this proxy and enable it: a `/reset` of this proxy only (for
        servers shared with other test processes)."""
        for toxic in self.toxics():
            with contextlib.suppress(ToxiproxyNotFound):
                toxic.remove()
        self.enable()

    # -- toxics ---------------------------------------------------------------------------

    def toxics(self) -> list[Toxic]:
        return [Toxic(self, item) for item in self.client.request("GET", f"{self._path}/toxics")]

    def toxic(self, name: str) -> Toxic:
        return Toxic(self, self.client.request("GET", f"{self._path}/toxics/{_q(name)}"))

    def add_toxic(
        self,
        type: str,
        *,
        stream: str = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
        **attributes: int,
    ) -> Toxic:
        """Add a toxic by its Toxiproxy type name, e.g. `add_toxic("latency", latency=100)`."""
        return self.add_spec(ToxicSpec(type, stream, attributes, toxicity, name))

    def add_spec(self, spec: ToxicSpec) -> Toxic:
        return Toxic(self, self.client.request("POST", f"{self._path}/toxics", spec.body()))

    @contextlib.contextmanager
    def fault(
        self, *faults: Fault | Iterable[Fault], history: History | None = None
    ) -> Iterator[Self]:
        """Apply faults (and presets) for the duration of the block, then lift them.

        Toxics are added in order; if one fails, those already added are removed. `Down()`
        disables the proxy and re-enables it at the end. With `history`, the start and end
        are recorded as `fault.start` / `fault.stop` events.
        """
        flat = flatten(faults)
        specs = [spec for fault in flat for spec in fault.toxics()]
        _check_unique(specs)
        detail = {"proxy": self.name, "faults": [repr(f) for f in flat]}
        added: list[Toxic] = []
        down = any(isinstance(f, Down) for f in flat)
        started = False
        try:
            for spec in specs:
                added.append(self.add_spec(spec))
            if down:
                self.disable()
            started = True
            if history is not None:
                history.note("fault.start", **detail)
            yield self
        finally:
            self._lift(added, down and started)
            if started and history is not None:
                history.note("fault.stop", **detail)

    def down(self, history: History | None = None) -> contextlib.AbstractContextManager[Self]:
        """Disable the proxy for the duration of the block."""
        return self.fault(Down(), history=history)

    def _lift(self, added: list[Toxic], down: bool) -> None:
        if down:
            self.enable()
        for toxic in added:
            with contextlib.suppress(ToxiproxyNotFound):  # a /reset may have removed it
                toxic.remove()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "api": self.client.api_url,
        }

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<Proxy {self.name} {self.listen} -> {self.upstream} {state}>"


def _check_unique(specs: list[ToxicSpec]) -> None:
    names = [spec.toxic_name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"faults applied together would create toxics with the same name {duplicates}; "
            "give them distinct name= values"
        )
