"""Toxiproxy 2.12's HTTP API (`api.go`): routes, status codes and bodies.

Routing follows gorilla/mux: the percent-decoded path is cleaned first (a path that is not
clean gets a 301 to the clean one); `{proxy}` and `{toxic}` match `[^/]+`; an unknown path
is a 404 `404 page not found`, a known path with another method a 405 with an empty body. The
`Mozilla/` user-agent check (403) applies to known routes only, as a mux middleware does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ._apierror import ApiError
from ._collection import PopulateError, ProxyCollection
from ._http import Request, Response
from ._wire import dumps

VERSION = "2.12.0"

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
NOT_FOUND = Response(404, b"404 page not found\n", _TEXT)
METHOD_NOT_ALLOWED = Response(405)
BAD_REQUEST = Response(400, b"400 Bad Request", _TEXT, close=True)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

Route = Callable[["Api", Request, Mapping[str, str]], Response]


def json_response(status: int, value: Any) -> Response:
    return Response(status, dumps(value).encode(), _JSON)


def error_response(error: ApiError) -> Response:
    """Go's `http.Error`: JSON text, but text/plain, nosniff and a trailing newline."""
    body = dumps({"error": error.message, "status": error.status}) + "\n"
    return Response(error.status, body.encode(), _TEXT, (("X-Content-Type-Options", "nosniff"),))


class Api:
    """The request handler of an embedded Toxiproxy server."""

    def __init__(self, collection: ProxyCollection) -> None:
        self.collection = collection

    def __call__(self, request: Request) -> Response:
        path, query = _split_target(request.target)
        if path is None:
            return BAD_REQUEST
        clean = _clean_path(path)
        if clean != path:
            location = quote(clean, safe="/!$&'()*+,;=:@", errors="surrogateescape")
            return Response(301, headers=(("Location", location + query),))
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            route = methods.get(request.method)
            if route is None:
                return METHOD_NOT_ALLOWED
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                return Response(
                    403,
                    b"User agent not allowed\n",
                    _TEXT,
                    (("X-Content-Type-Options", "nosniff"),),
                )
            try:
                return route(self, request, match.groupdict())
            except ApiError as exc:
                return error_response(exc)
        return NOT_FOUND

    # -- handlers -----------------------------------------------------------------------------

    def version(self, request: Request, args: Mapping[str, str]) -> Response:
        body = f'{{"version": "{VERSION}"}}\n'.encode()
        return Response(200, body, "application/json;charset=utf-8")

    def reset(self, request: Request, args: Mapping[str, str]) -> Response:
        self.collection.reset()
        return Response(204)

    def proxy_index(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(200, {proxy.name: proxy.to_json() for proxy in self.collection})

    def proxy_create(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(201, self.collection.create(request.body).to_json())

    def populate(self, request: Request, args: Mapping[str, str]) -> Response:
        try:
            done = self.collection.populate(request.body)
        except PopulateError as exc:
            proxies = None if not exc.done else [proxy.to_json() for proxy in exc.done]
            body = {"error": exc.error.message, "status": exc.error.status, "proxies": proxies}
            return json_response(exc.error.status, body)
        return json_response(201, {"proxies": [proxy.to_json() for proxy in done] or None})

    def proxy_show(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(200, self.collection.get(args["proxy"]).to_json())

    def proxy_update(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(200, self.collection.update(args["proxy"], request.body).to_json())

    def proxy_delete(self, request: Request, args: Mapping[str, str]) -> Response:
        self.collection.delete(args["proxy"])
        return Response(204)

    def toxic_index(self, request: Request, args: Mapping[str, str]) -> Response:
        toxics = self.collection.get(args["proxy"]).toxics()
        return json_response(200, [toxic.to_json() for toxic in toxics])

    def toxic_create(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(200, self.collection.add_toxic(args["proxy"], request.body).to_json())

    def toxic_show(self, request: Request, args: Mapping[str, str]) -> Response:
        return json_response(200, self.collection.get_toxic(args["proxy"], args["toxic"]).to_json())

    def toxic_update(self, request: Request, args: Mapping[str, str]) -> Response:
        toxic = self.collection.update_toxic(args["proxy"], args["toxic"], request.body)
        return json_response(200, toxic.to_json())

    def toxic_delete(self, request: Request, args: Mapping[str, str]) -> Response:
        self.collection.remove_toxic(args["proxy"], args["toxic"])
        return Response(204)


_ROUTES: tuple[tuple[re.Pattern[str], Mapping[str, Route]], ...] = (
    (re.compile(r"/reset"), {"POST": Api.reset}),
    (re.compile(r"/proxies"), {"GET": Api.proxy_index, "POST": Api.proxy_create}),
    (re.compile(r"/populate"), {"POST": Api.populate}),
    (
        re.compile(r"/proxies/(?P<proxy>[^/]+)"),
        {
            "GET": Api.proxy_show,
            "POST": Api.proxy_update,
            "PATCH": Api.proxy_update,
            "DELETE": Api.proxy_delete,
        },
    ),
    (
        re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics"),
        {"GET": Api.toxic_index, "POST": Api.toxic_create},
    ),
    (
        re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics/(?P<toxic>[^/]+)"),
        {
            "GET": Api.toxic_show,
            "POST": Api.toxic_update,
            "PATCH": Api.toxic_update,
            "DELETE": Api.toxic_delete,
        },
    ),
    (re.compile(r"/version"), {"GET": Api.version}),
)


def _split_target(target: str) -> tuple[str | None, str]:
    """(decoded path, "?query" or ""); path None when the target is not a valid request URI."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        raw, query = parts.path or "/", f"?{parts.query}" if parts.query else ""
    else:
        raw, sep, rest = target.partition("?")
        query = f"?{rest}" if sep else ""
    if not raw.startswith("/") or _BAD_ESCAPE.search(raw):
        return None, ""
    return unquote(raw, errors="surrogateescape"), query


def _clean_path(path: str) -> str:
    """gorilla/mux's cleanPath: Go's path.Clean, keeping a trailing slash."""
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    clean = "/" + "/".join(parts)
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean
