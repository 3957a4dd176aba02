"""HTTP caching as ASGI middleware: strong validators, conditional requests, a shared cache.

`HTTPCacheMiddleware` wraps any ASGI app. For GET and HEAD it adds a strong ETag computed from
the representation, answers conditional requests per RFC 9110 §13 (304 / 412), and stores
shareable responses in Redis per RFC 9111 (shared-cache rules). Unsafe methods that succeed
invalidate the stored response of their target URI (RFC 9111 §4.4).

The parsing and evaluation helpers at the top (`parse_http_date`, `parse_entity_tags`,
`Preconditions.evaluate`...) are pure and strict, so tests can use them as oracles.

The middleware itself needs no web framework; it runs Redis calls in worker threads through
anyio (installed with Starlette, extra `[http]`).
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import email.utils
import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

import redis

from cachecheck._contract import Contract, TtlPolicy

from ._common import Keys
from ._registry import Reference
from .stampede import Counters, FillLease, RedisClient, check_positive, text

if TYPE_CHECKING:
    from cachecheck._world import World

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Statuses a cache may store with explicit freshness (RFC 9110 §15.1 heuristically
#: cacheable list, minus 206: this middleware does not do ranges).
STORABLE_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
#: delta-seconds beyond this are read as this (RFC 9111 §1.2.2).
MAX_DELTA_SECONDS: Final = 2_147_483_648
#: Fields a 304 carries from the 200 it stands for (RFC 9110 §15.4.5), plus Last-Modified.
NOT_MODIFIED_FIELDS: Final = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified", "age"}
)
#: Representation metadata a 304 must not carry (RFC 9110 §15.4.5, §8.6).
REPRESENTATION_FIELDS: Final = frozenset(
    {"content-type", "content-length", "content-encoding", "content-language", "content-range",
     "content-md5", "transfer-encoding"}
)  # fmt: skip
CONDITIONAL_FIELDS: Final = (
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
)
_STREAMING_EXTENSIONS: Final = ("http.response.pathsend", "http.response.zerocopysend")


def _to_thread() -> Callable[..., Awaitable[Any]]:
    try:
        import anyio.to_thread
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "HTTPCacheMiddleware needs anyio (installed with Starlette): "
            "pip install 'pytest-cachecheck[http]'"
        ) from exc
    return anyio.to_thread.run_sync


# -- HTTP-date (RFC 9110 §5.6.7) --------------------------------------------------------------

_DAYS: Final = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAYS: Final = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_RE: Final = "|".join(_MONTHS)
_TIME: Final = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
_IMF_FIXDATE: Final = re.compile(
    rf"(?:{_DAYS}), ([0-9]{{2}}) ({_MONTH_RE}) ([0-9]{{4}}) {_TIME} GMT"
)
_RFC850: Final = re.compile(
    rf"(?:{_LONG_DAYS}), ([0-9]{{2}})-({_MONTH_RE})-([0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME: Final = re.compile(rf"(?:{_DAYS}) ({_MONTH_RE}) ([0-9]{{2}}| [0-9]) {_TIME} ([0-9]{{4}})")


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Seconds since the epoch of an HTTP-date in any of its three formats, or None if
    `value` is not exactly one valid HTTP-date (strict: case, zone, padding, ranges)."""
    value = value.strip(" \t")
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = match.groups()
        year_number = int(year)
    elif match := _RFC850.fullmatch(value):
        day, month, yy, hh, mm, ss = match.groups()
        year_number = _two_digit_year(int(yy), now)
    elif match := _ASCTIME.fullmatch(value):
        month, day, hh, mm, ss, year = match.groups()
        year_number = int(year)
    else:
        return None
    try:
        dt.date(year_number, _MONTHS.index(month) + 1, int(day))
    except ValueError:
        return None
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 60:  # 60: a leap second
        return None
    return calendar.timegm(
        (year_number, _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss))
    )


def _two_digit_year(yy: int, now: float | None) -> int:
    """RFC 9110 §5.6.7: a year more than 50 years in the future is in the past century."""
    this_year = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC).year
    year = this_year - this_year % 100 + yy
    return year - 100 if year > this_year + 50 else year


def format_http_date(seconds: float) -> str:
    """IMF-fixdate, the only format a sender may generate."""
    return email.utils.formatdate(math.floor(seconds), usegmt=True)


# -- entity tags (RFC 9110 §8.8.3) ------------------------------------------------------------

_ETAGC: Final = re.compile(r"[\x21\x23-\x7e\x80-\xff]*")


@dataclass(frozen=True, slots=True)
class EntityTagList:
    """A parsed If-Match / If-None-Match value: `*`, or a list of entity-tags."""

    any: bool
    tags: tuple[str, ...] = ()


def parse_entity_tag(value: str) -> str | None:
    """A single entity-tag (`"x"` or `W/"x"`), or None if `value` is not one."""
    tags = parse_entity_tags(value)
    return tags.tags[0] if tags is not None and not tags.any and len(tags.tags) == 1 else None


def parse_entity_tags(value: str) -> EntityTagList | None:
    """`*` or `#entity-tag` with empty list elements allowed; None if invalid.

    Tags may contain commas (etagc includes ','), so the list is scanned, not split.
    """
    text_value = value.strip(" \t")
    if text_value == "*":
        return EntityTagList(any=True)
    tags: list[str] = []
    i, n = 0, len(text_value)
    while i < n:
        while i < n and text_value[i] in " \t,":
            i += 1
        if i >= n:
            break
        weak = text_value.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or text_value[i] != '"':
            return None
        close = text_value.find('"', i + 1)
        if close < 0:
            return None
        opaque = text_value[i + 1 : close]
        if not _ETAGC.fullmatch(opaque):
            return None
        tags.append(f'{"W/" if weak else ""}"{opaque}"')
        i = close + 1
        while i < n and text_value[i] in " \t":
            i += 1
        if i < n and text_value[i] != ",":
            return None
    return EntityTagList(any=False, tags=tuple(tags))


def _opaque(tag: str) -> tuple[bool, str]:
    return (True, tag[2:]) if tag.startswith("W/") else (False, tag)


def strong_match(a: str, b: str) -> bool:
    """RFC 9110 §8.8.3.2 strong comparison: neither weak, opaque tags equal."""
    weak_a, opaque_a = _opaque(a)
    weak_b, opaque_b = _opaque(b)
    return not weak_a and not weak_b and opaque_a == opaque_b


def weak_match(a: str, b: str) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison: opaque tags equal, W/ ignored."""
    return _opaque(a)[1] == _opaque(b)[1]


def make_strong_etag(body: bytes, *, content_type: str = "", content_encoding: str = "") -> str:
    """A strong ETag from the representation: SHA-256 over the bytes and the metadata that
    distinguishes representations with equal bytes (§8.8.3.3); stable across processes."""
    digest = hashlib.sha256()
    for part in (content_type.encode("latin-1"), content_encoding.encode("latin-1"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f'"{digest.hexdigest()[:32]}"'


# -- Cache-Control (RFC 9111 §5.2) ------------------------------------------------------------

_DIRECTIVE: Final = re.compile(
    r'\s*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*'
)


@dataclass(frozen=True, slots=True)
class CacheControl:
    """Parsed directives (names lower-cased, first occurrence kept) and the duplicated names."""

    directives: dict[str, str | None] = field(default_factory=dict)
    duplicates: frozenset[str] = frozenset()

    def __contains__(self, name: str) -> bool:
        return name in self.directives

    def delta_seconds(self, name: str) -> int | None:
        """A delta-seconds argument; -1 if present but invalid or duplicated (read as stale)."""
        if name not in self.directives:
            return None
        value = self.directives[name]
        if name in self.duplicates or value is None or not value.isascii() or not value.isdigit():
            return -1
        return min(int(value), MAX_DELTA_SECONDS)


def parse_cache_control(value: str | None) -> CacheControl:
    if not value:
        return CacheControl()
    found: dict[str, str | None] = {}
    duplicates = set()
    position = 0
    while position < len(value):
        match = _DIRECTIVE.match(value, position)
        if match is None or match.end() == position:
            comma = value.find(",", position)  # skip a malformed member
            position = len(value) if comma < 0 else comma + 1
            continue
        name, argument = match.group(1).lower(), match.group(2)
        if argument is not None and argument.startswith('"'):
            argument = re.sub(r"\\(.)", r"\1", argument[1:-1])
        if name in found:
            duplicates.add(name)
        else:
            found[name] = argument
        position = match.end()
        if position < len(value) and value[position] == ",":
            position += 1
    return CacheControl(found, frozenset(duplicates))


# -- preconditions (RFC 9110 §13.2.2) ----------------------------------------------------------


class Preconditions:
    """The §13.2.2 evaluation for a GET/HEAD whose unconditional answer would be 200.

    Returns 200 (perform), 304 (not modified) or 412 (precondition failed). Range/If-Range is
    not evaluated (the middleware does not serve ranges). Override the comparison methods to
    build variants; the order of evaluation lives in `evaluate` only.
    """

    def evaluate(
        self,
        method: str,
        header: Callable[[str], str | None],
        *,
        etag: str | None,
        last_modified: str | None,
    ) -> int:
        if method not in ("GET", "HEAD"):
            return 200
        if_match = header("if-match")
        if if_match is not None:
            if not self.if_match_passes(if_match, etag):
                return 412
        else:
            unmodified = header("if-unmodified-since")
            if unmodified is not None and self.modified_since(last_modified, unmodified) is True:
                return 412
        if_none_match = header("if-none-match")
        if if_none_match is not None:
            # IMS is ignored whenever If-None-Match is present (§13.1.3).
            return 304 if self.if_none_match_matches(if_none_match, etag) else 200
        modified_since = header("if-modified-since")
        if (
            modified_since is not None
            and self.modified_since(last_modified, modified_since) is False
        ):
            return 304
        return 200

    def if_match_passes(self, value: str, etag: str | None) -> bool:
        tags = parse_entity_tags(value)
        if tags is None:
            return False
        if tags.any:
            return True  # a current representation exists: we are about to send a 200
        return etag is not None and any(self.strong_match(tag, etag) for tag in tags.tags)

    def if_none_match_matches(self, value: str, etag: str | None) -> bool:
        tags = parse_entity_tags(value)
        if tags is None:
            return False
        if tags.any:
            return True
        return etag is not None and any(self.weak_match(tag, etag) for tag in tags.tags)

    def modified_since(self, last_modified: str | None, date: str) -> bool | None:
        """True if the representation changed after `date`, False if not, None when the
        comparison must be ignored (no or invalid Last-Modified, invalid or listed date)."""
        if last_modified is None:
            return None
        modified, since = parse_http_date(last_modified), parse_http_date(date)
        if modified is None or since is None:
            return None
        return modified > since

    def strong_match(self, a: str, b: str) -> bool:
        return strong_match(a, b)

    def weak_match(self, a: str, b: str) -> bool:
        return weak_match(a, b)


def evaluate_preconditions(
    method: str, headers: dict[str, str], *, etag: str | None, last_modified: str | None
) -> int:
    """`Preconditions().evaluate` over a dict of lower-case request headers (an oracle)."""
    return Preconditions().evaluate(method, headers.get, etag=etag, last_modified=last_modified)


# -- messages ---------------------------------------------------------------------------------


def _decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw]


def _encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class _Headers:
    """Lower-cased header access; repeated fields are combined with ", " (RFC 9110 §5.3)."""

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self.items = list(headers)

    def get(self, name: str) -> str | None:
        values = [value for key, value in self.items if key == name]
        return ", ".join(values) if values else None

    def set(self, name: str, value: str) -> None:
        self.items = [(k, v) for k, v in self.items if k != name] + [(name, value)]

    def remove(self, *names: str) -> None:
        self.items = [(k, v) for k, v in self.items if k not in names]


@dataclass
class _Response:
    status: int
    headers: _Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class _Stored:
    """A response in Redis, with what reuse needs to know."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stored_at: float
    lifetime: float
    first_seen: float
    vary: dict[str, str | None]
    for_authorized: bool

    def encode(self) -> str:
        return json.dumps({
            "status": self.status, "headers": self.headers,
            "body": base64.b64encode(self.body).decode("ascii"), "stored_at": self.stored_at,
            "lifetime": self.lifetime, "first_seen": self.first_seen, "vary": self.vary,
            "authz": self.for_authorized,
        }, separators=(",", ":"))  # fmt: skip

    @classmethod
    def decode(cls, raw: str | None) -> _Stored | None:
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            return cls(
                int(body["status"]), [(str(k), str(v)) for k, v in body["headers"]],
                base64.b64decode(body["body"]), float(body["stored_at"]), float(body["lifetime"]),
                float(body["first_seen"]), dict(body["vary"]), bool(body["authz"]),
            )  # fmt: skip
        except (ValueError, TypeError, KeyError):
            return None


def _vary_fields(headers: _Headers) -> list[str]:
    value = headers.get("vary") or ""
    return sorted({part.strip().lower() for part in value.split(",") if part.strip()})


def _normalized(value: str | None) -> str | None:
    return None if value is None else " ".join(value.split())


class _Capture:
    """Buffers the app's response up to `limit` bytes; beyond that, streams it through."""

    def __init__(self, send: Send, *, limit: int, head: bool) -> None:
        self._send = send
        self._limit = limit
        self._head = head
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
            if message.get("trailers"):
                await self._stream_from_now()
        elif kind == "http.response.body" and not self.streaming:
            body = bytes(message.get("body", b""))
            self.chunks.append(body)
            self.size += len(body)
            if self.size > self._limit:
                await self._stream_from_now(more_body=bool(message.get("more_body")))
        elif kind == "http.response.body":
            body = b"" if self._head else message.get("body", b"")
            await self._send({**message, "body": body})
        else:
            await self._send(message)

    async def _stream_from_now(self, *, more_body: bool = True) -> None:
        self.streaming = True
        assert self.start is not None
        await self._send(self.start)
        buffered = b"".join(self.chunks)
        self.chunks.clear()
        await self._send(
            {
                "type": "http.response.body",
                "body": b"" if self._head else buffered,
                "more_body": more_body,
            }
        )

    def response(self) -> _Response | None:
        if self.streaming or self.start is None:
            return None
        raw = self.start.get("headers", [])
        return _Response(
            int(self.start["status"]), _Headers(_decode_headers(raw)), b"".join(self.chunks)
        )


# -- the middleware ---------------------------------------------------------------------------


class HTTPCacheMiddleware:
    """ASGI middleware: strong ETags, RFC 9110 conditional requests, an RFC 9111 shared cache.

    **Use it** in front of an ASGI app whose GET responses are expensive and can be shared
    between users (or, with `shared=False, store_private=True`, for per-client caching).

    **What it does for GET and HEAD.**

    - Runs HEAD as GET (same headers, no body), without the request's conditional fields,
      and evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since
      itself on every 200, per RFC 9110 §13.2.2. If-None-Match wins over If-Modified-Since
      and uses weak comparison; If-Match uses strong comparison. HTTP-dates are parsed
      strictly in all three formats and compared as seconds; invalid or listed dates are
      ignored.
    - A 304 carries ETag, Cache-Control, Content-Location, Date, Expires, Vary and
      Last-Modified from the 200 it replaces, and no body.
    - Adds a strong ETag (`"<sha256>"` over the bytes, content type and coding) to 200s that
      have none.
    - Stores a response in Redis (TTL = its freshness lifetime, capped by `max_lifetime`)
      only if a shared cache may. It must be GET, have a storable status and explicit
      freshness (`s-maxage`, `max-age`, `Expires`, or `default_ttl`). It must not be
      `no-store`, `no-cache`, `private` (unless `store_private`) or carry Set-Cookie (unless
      `store_set_cookie`), and not `Vary: *`. With a request Authorization it must also be
      `public`, `s-maxage` or `must-revalidate`.
    - Reuses a stored response only while fresh, when the Vary-nominated request fields
      match (one variant per URL is kept), and not for requests with `no-cache`,
      `max-age=0` or `no-store`; adds `Age`.
    - When the app sends no Last-Modified and `derive_last_modified` is on, stored responses
      get one: the second after the representation was first stored, shown only once that
      second has passed. So two changes within one second can never share a date (bug
      class #41).

    **Other methods.** A 2xx/3xx answer to an unsafe method deletes the stored response of
    its URI before the answer is forwarded; fills use the fill lease, so a GET that raced
    the change cannot store the old representation.

    **Limits.** Responses over `max_body_bytes` stream through untouched (no ETag, not
    stored). Range requests bypass the cache. Redis errors make it behave as a pass-through
    (it fails open).

    **Cost.** A hit: 1 Redis round trip (in a worker thread) and no app call. A miss: 2 more
    round trips when the response is stored.
    """

    strategy = "http"
    preconditions_class: type[Preconditions] = Preconditions

    def __init__(
        self,
        app: ASGIApp,
        *,
        redis_client: RedisClient,
        namespace: str,
        shared: bool = True,
        default_ttl: float | None = None,
        max_lifetime: float = 3600.0,
        store_private: bool = False,
        store_set_cookie: bool = False,
        derive_last_modified: bool = True,
        max_body_bytes: int = 1 << 20,
        lease_ttl: float = 10.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        check_positive(
            max_lifetime=max_lifetime, max_body_bytes=max_body_bytes, lease_ttl=lease_ttl
        )
        self.app = app
        self.client = redis_client
        self.keys = Keys(namespace, self.strategy)
        self.shared = shared
        self.default_ttl = default_ttl
        self.max_lifetime = max_lifetime
        self.store_private = store_private
        self.store_set_cookie = store_set_cookie
        self.derive_last_modified = derive_last_modified
        self.max_body_bytes = max_body_bytes
        self.wall_clock = wall_clock
        self.preconditions = self.preconditions_class()
        self._lease = FillLease(redis_client, lease_ttl=lease_ttl)
        self._run_sync = _to_thread()
        self.stats = Counters(
            "hits", "misses", "stores", "not_stored", "bypass", "not_modified",
            "precondition_failed", "streamed", "invalidations", "redis_errors",
        )  # fmt: skip

    @property
    def contract(self) -> Contract:
        return http_contract(max_lifetime=self.max_lifetime, lease_ttl=self._lease.lease_ttl)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"]).upper()
        if method in ("GET", "HEAD"):
            await self._read(scope, receive, send, method)
        elif method in ("OPTIONS", "TRACE", "CONNECT"):
            await self.app(scope, receive, send)
        else:
            await self._unsafe(scope, receive, send)

    # -- GET / HEAD ---------------------------------------------------------------------------

    async def _read(self, scope: Scope, receive: Receive, send: Send, method: str) -> None:
        request = _Headers(_decode_headers(scope.get("headers", [])))
        if request.get("range") is not None:
            self.stats.add("bypass")
            await self.app(scope, receive, send)
            return
        directives = parse_cache_control(request.get("cache-control"))
        no_store = "no-store" in directives
        refresh = no_store or "no-cache" in directives or directives.delta_seconds("max-age") == 0
        if request.get("cache-control") is None and "no-cache" in (request.get("pragma") or ""):
            refresh = True  # RFC 9111 §5.4: Pragma only counts without Cache-Control
        key = self._cache_key(scope)
        now = self.wall_clock()
        stored = None if refresh else _Stored.decode(await self._redis(self._get, key))
        response = self._reuse(stored, request, now) if stored is not None else None
        if response is not None:
            self.stats.add("hits")
        else:
            self.stats.add("misses")
            token = (
                None
                if no_store
                else await self._redis(self._lease.begin, self.client, self.keys.meta("lease", key))
            )
            response = await self._fetch(scope, receive, send, method)
            if response is None:
                self.stats.add("streamed")
                return
            self._add_validators(response, now)
            if token is not None:
                await self._store(key, token, request, response, now)
        await self._respond(method, request, response, send)

    async def _fetch(
        self, scope: Scope, receive: Receive, send: Send, method: str
    ) -> _Response | None:
        headers = [
            (k, v)
            for k, v in scope.get("headers", [])
            if k.decode("latin-1").lower() not in CONDITIONAL_FIELDS
        ]
        extensions = {
            k: v
            for k, v in (scope.get("extensions") or {}).items()
            if k not in _STREAMING_EXTENSIONS
        }
        inner = {**scope, "method": "GET", "headers": headers, "extensions": extensions}
        capture = _Capture(send, limit=self.max_body_bytes, head=method == "HEAD")
        await self.app(inner, receive, capture)
        return capture.response()

    def _reuse(self, stored: _Stored, request: _Headers, now: float) -> _Response | None:
        age = max(0.0, now - stored.stored_at)
        if age >= stored.lifetime:
            return None
        if any(_normalized(request.get(name)) != value for name, value in stored.vary.items()):
            return None  # another variant: fetch it (and it replaces this one)
        if request.get("authorization") is not None and not stored.for_authorized:
            return None
        headers = _Headers(stored.headers)
        headers.set("age", str(math.floor(age)))
        if (
            headers.get("last-modified") is None
            and self.derive_last_modified
            and stored.status == 200
        ):
            modified = math.floor(stored.first_seen) + 1
            if modified <= now:
                headers.set("last-modified", format_http_date(modified))
        return _Response(stored.status, headers, stored.body)

    def _add_validators(self, response: _Response, now: float) -> None:
        headers = response.headers
        if response.status != 200:
            return
        if headers.get("etag") is None:
            headers.set("etag", self.make_etag(response.body, headers))
        last_modified = headers.get("last-modified")
        if last_modified is not None:
            parsed = parse_http_date(last_modified)
            if parsed is not None and parsed > now:  # §8.8.2.1: never later than now
                headers.set("last-modified", format_http_date(now))

    def make_etag(self, body: bytes, headers: _Headers) -> str:
        return make_strong_etag(
            body,
            content_type=headers.get("content-type") or "",
            content_encoding=headers.get("content-encoding") or "",
        )

    async def _store(
        self, key: str, token: str, request: _Headers, response: _Response, now: float
    ) -> None:
        lifetime = self._storable_lifetime(request, response, now)
        if lifetime is None:
            self.stats.add("not_stored")
            return
        directives = parse_cache_control(response.headers.get("cache-control"))
        entry = _Stored(
            response.status, list(response.headers.items), response.body, now, lifetime, now,
            {name: _normalized(request.get(name)) for name in _vary_fields(response.headers)},
            bool({"public", "s-maxage", "must-revalidate"} & set(directives.directives)),
        )  # fmt: skip
        stored = await self._redis(
            self._lease.fill, self.client, self.keys.value(key), self.keys.meta("lease", key),
            token, entry.encode(), min(lifetime, self.max_lifetime),
        )  # fmt: skip
        if stored:
            self.stats.add("stores")

    def _storable_lifetime(
        self, request: _Headers, response: _Response, now: float
    ) -> float | None:
        """The freshness lifetime if a shared cache may store `response`, else None."""
        if response.status not in STORABLE_STATUSES:
            return None
        directives = parse_cache_control(response.headers.get("cache-control"))
        if not self._shareable(request, response, directives):
            return None
        lifetime = self._lifetime(response, directives, now)
        return lifetime if lifetime is not None and lifetime > 0 else None

    def _shareable(self, request: _Headers, response: _Response, directives: CacheControl) -> bool:
        if "no-store" in directives or "no-cache" in directives:
            return False
        if self.shared and "private" in directives and not self.store_private:
            return False
        if response.headers.get("set-cookie") is not None and not self.store_set_cookie:
            return False
        if "*" in _vary_fields(response.headers):
            return False
        if self.shared and request.get("authorization") is not None:
            return bool({"public", "s-maxage", "must-revalidate"} & set(directives.directives))
        return True

    def _lifetime(self, response: _Response, directives: CacheControl, now: float) -> float | None:
        for name in ("s-maxage", "max-age") if self.shared else ("max-age",):
            seconds = directives.delta_seconds(name)
            if seconds is not None:
                return float(seconds)  # -1 (invalid) means stale: not stored
        expires = response.headers.get("expires")
        if expires is not None:
            expiry = parse_http_date(expires)
            if expiry is None:
                return 0.0  # invalid Expires (e.g. "0") means already expired
            date = parse_http_date(response.headers.get("date") or "")
            return float(expiry - (date if date is not None else now))
        return self.default_ttl

    async def _respond(
        self, method: str, request: _Headers, response: _Response, send: Send
    ) -> None:
        status = 200
        if response.status == 200:
            fields = response.headers
            status = self.preconditions.evaluate(
                method,
                request.get,
                etag=fields.get("etag"),
                last_modified=fields.get("last-modified"),
            )
        if status == 304:
            self.stats.add("not_modified")
            headers, body = self._not_modified(response)
            await self._send(send, 304, headers, body)
        elif status == 412:
            self.stats.add("precondition_failed")
            await self._send(send, 412, [("content-length", "0")], b"")
        else:
            await self._send(
                send,
                response.status,
                response.headers.items,
                b"" if method == "HEAD" else response.body,
            )

    def _not_modified(self, response: _Response) -> tuple[list[tuple[str, str]], bytes]:
        headers = [(k, v) for k, v in response.headers.items if k not in REPRESENTATION_FIELDS]
        return headers, b""

    @staticmethod
    async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": _encode_headers(headers)}
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    # -- unsafe methods -----------------------------------------------------------------------

    async def _unsafe(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._cache_key(scope)
        invalidated = False

        async def forward(message: Message) -> None:
            nonlocal invalidated
            succeeded = (
                message["type"] == "http.response.start" and 200 <= int(message["status"]) < 400
            )
            if succeeded and not invalidated:
                invalidated = True
                self.stats.add("invalidations")
                await self._redis(
                    FillLease.invalidate,
                    self.client,
                    self.keys.value(key),
                    self.keys.meta("lease", key),
                )
            await send(message)

        await self.app(scope, receive, forward)

    # -- plumbing -----------------------------------------------------------------------------

    def _cache_key(self, scope: Scope) -> str:
        headers = _Headers(_decode_headers(scope.get("headers", [])))
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("", "")))
        path = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8")
        query = scope.get("query_string", b"")
        target = (
            f"{scope.get('scheme', 'http')}://{host}".encode("latin-1")
            + bytes(path)
            + b"?"
            + bytes(query)
        )
        return hashlib.sha256(target).hexdigest()

    def _get(self, key: str) -> str | None:
        return text(self.client.get(self.keys.value(key)))

    async def _redis(self, call: Callable[..., T], *args: Any) -> T | None:
        """Run a blocking Redis call in a worker thread; on a Redis error, fail open (None)."""
        try:
            return await self._run_sync(partial(call, *args))  # type: ignore[no-any-return]
        except (redis.RedisError, OSError):
            self.stats.add("redis_errors")
            return None

    def __repr__(self) -> str:
        return f"HTTPCacheMiddleware(app={self.app!r}, namespace={self.keys.namespace!r})"


def http_contract(*, max_lifetime: float = 3600.0, lease_ttl: float = 10.0) -> Contract:
    """What `HTTPCacheMiddleware` promises (checked by the `http` property tests)."""
    return Contract(
        name="http",
        ttl=TtlPolicy(max_seconds=max(max_lifetime, lease_ttl)),
        notes=(
            "RFC 9110 §13 validators and conditional requests; RFC 9111 shared-cache storage "
            "rules; unsafe methods invalidate their target URI."
        ),
        extra={"http": {"shared": True, "strong_etag": True}},
    )


HTTP_CONTRACT: Final = http_contract()


def make_http_middleware(
    world: World, *, cls: type[HTTPCacheMiddleware] = HTTPCacheMiddleware, **overrides: Any
) -> Callable[[ASGIApp], HTTPCacheMiddleware]:
    """A middleware factory on the world's Redis: `make_http_middleware(world)(app)`."""
    return partial(cls, redis_client=world.client(), namespace=world.namespace, **overrides)


#: Not registered as a `Reference` (it is not a key/value Subject); mutants of it use this.
HTTP_REFERENCE: Final = Reference(
    "http", make_http_middleware, HTTP_CONTRACT, "ASGI HTTP caching middleware (RFC 9110/9111)."
)

__all__ = [
    "HTTP_CONTRACT",
    "CacheControl",
    "EntityTagList",
    "HTTPCacheMiddleware",
    "Preconditions",
    "evaluate_preconditions",
    "format_http_date",
    "http_contract",
    "make_http_middleware",
    "make_strong_etag",
    "parse_cache_control",
    "parse_entity_tag",
    "parse_entity_tags",
    "parse_http_date",
    "strong_match",
    "weak_match",
]
