"""The embedded server's proxies, and the operations of the HTTP API on them.

Every method runs on the event loop thread and raises `ApiError` exactly where Toxiproxy's
`api.go` / `proxy_collection.go` would answer an error, in the same order of checks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._address import same_listen, same_upstream
from ._apierror import (
    BAD_REQUEST_BODY,
    MISSING_FIELD,
    PROXY_ALREADY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_NOT_FOUND,
    ApiError,
)
from ._proxy import ServedProxy
from ._toxic_model import ToxicDef, toxic_from_create, toxic_from_update
from ._wire import BodyError, Kind, decode_struct, parse, type_name

_PROXY_FIELDS: dict[str, Kind] = {
    "name": "string",
    "listen": "string",
    "upstream": "string",
    "enabled": "bool",
    "Logger": "struct",  # Go's exported Logger field: an object (or null) decodes, else 400
}


@dataclass(frozen=True, slots=True)
class ProxyInput:
    name: str
    listen: str
    upstream: str
    enabled: bool


class PopulateError(Exception):
    """A failed `/populate`: its API error and the proxies handled before it."""

    def __init__(self, error: ApiError, done: list[ServedProxy] | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.done = done


class ProxyCollection:
    """All proxies of one embedded server, by name."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._proxies: dict[str, ServedProxy] = {}

    def __iter__(self) -> Iterator[ServedProxy]:
        return iter([self._proxies[name] for name in sorted(self._proxies)])

    def get(self, name: str) -> ServedProxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise PROXY_NOT_FOUND.error() from None

    # -- proxies ------------------------------------------------------------------------------

    def create(self, body: bytes) -> ServedProxy:
        """`POST /proxies`: 400 body, 400 name, 400 upstream, 409, 500 bind."""
        fields = _decode_proxy(
            _parse(body), {"enabled": True, "name": "", "listen": "", "upstream": ""}
        )
        if not fields["name"]:
            raise MISSING_FIELD.joined("name")
        if not fields["upstream"]:
            raise MISSING_FIELD.joined("upstream")
        if fields["name"] in self._proxies:
            raise PROXY_ALREADY_EXISTS.error()
        proxy = ServedProxy(fields["name"], fields["listen"], fields["upstream"], self.rng)
        if fields["enabled"]:
            proxy.start()
        self._proxies[proxy.name] = proxy
        return proxy

    def update(self, name: str, body: bytes) -> ServedProxy:
        """`POST/PATCH /proxies/{p}`: missing fields keep their values; `name` is ignored."""
        proxy = self.get(name)
        current = {"listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
        fields = _decode_proxy(_parse(body), {"name": proxy.name, **current})
        if not same_listen(proxy.listen, fields["listen"]) or not same_upstream(
            proxy.upstream, fields["upstream"]
        ):
            proxy.stop()
            proxy.listen, proxy.upstream = fields["listen"], fields["upstream"]
        if fields["enabled"] != proxy.enabled:
            if fields["enabled"]:
                proxy.start()
            else:
                proxy.stop()
        return proxy

    def delete(self, name: str) -> None:
        self.get(name).stop()
        del self._proxies[name]

    def reset(self) -> None:
        """`POST /reset`: enable every proxy (a bind failure stops here), drop all toxics."""
        for proxy in self:
            if not proxy.enabled:
                proxy.start()
            proxy.reset_toxics()

    def populate(self, body: bytes) -> list[ServedProxy]:
        """`POST /populate`: validate every entry, then add or replace them one by one."""
        try:
            entries = _populate_entries(body)
        except ApiError as exc:
            raise PopulateError(exc, None) from None
        done: list[ServedProxy] = []
        for entry in entries:
            try:
                done.append(self._add_or_replace(entry))
            except ApiError as exc:
                raise PopulateError(exc, done) from None
        return done

    def _add_or_replace(self, entry: ProxyInput) -> ServedProxy:
        existing = self._proxies.get(entry.name)
        if existing is not None:
            if same_listen(existing.listen, entry.listen) and same_upstream(
                existing.upstream, entry.upstream
            ):
                return existing  # unchanged: toxics, connections and `enabled` are kept
            existing.stop()
        proxy = ServedProxy(entry.name, entry.listen, entry.upstream, self.rng)
        if entry.enabled:
            proxy.start()
        self._proxies[proxy.name] = proxy
        return proxy

    def shutdown(self) -> None:
        """Stop every proxy (server shutdown)."""
        for proxy in self:
            proxy.stop()
        self._proxies.clear()

    # -- toxics -------------------------------------------------------------------------------

    def add_toxic(self, proxy_name: str, body: bytes) -> ToxicDef:
        proxy = self.get(proxy_name)
        toxic = toxic_from_create(body, lambda name: proxy.find_toxic(name) is not None)
        proxy.add_toxic(toxic)
        return toxic

    def get_toxic(self, proxy_name: str, toxic_name: str) -> ToxicDef:
        toxic = self.get(proxy_name).find_toxic(toxic_name)
        if toxic is None:
            raise TOXIC_NOT_FOUND.error()
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: bytes) -> ToxicDef:
        proxy = self.get(proxy_name)
        current = proxy.find_toxic(toxic_name)
        if current is None:
            raise TOXIC_NOT_FOUND.error()
        toxic = toxic_from_update(body, current)
        proxy.update_toxic(toxic)
        return toxic

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        self.get(proxy_name).remove_toxic(toxic_name)


def _parse(body: bytes) -> Any:
    try:
        return parse(body)
    except BodyError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _decode_proxy(value: Any, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        decode_struct(value, _PROXY_FIELDS, "toxiproxy.Proxy", fields)
    except BodyError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None
    return fields


def _populate_entries(body: bytes) -> list[ProxyInput]:
    """Decode and validate the whole `/populate` body before anything is created."""
    value = _parse(body)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BAD_REQUEST_BODY.joined(
            f"json: cannot unmarshal {type_name(value)} into Go value of type []toxiproxy.Proxy"
        )
    decoded: list[dict[str, Any]] = []
    for item in value:
        decoded.append(
            _decode_proxy(item, {"name": "", "listen": "", "upstream": "", "enabled": True})
        )
    entries = []
    for number, fields in enumerate(decoded, start=1):
        if not fields["name"]:
            raise MISSING_FIELD.joined(f"name at proxy {number}")
        if not fields["upstream"]:
            raise MISSING_FIELD.joined(f"upstream at proxy {number}")
        entries.append(
            ProxyInput(fields["name"], fields["listen"], fields["upstream"], fields["enabled"])
        )
    return entries
