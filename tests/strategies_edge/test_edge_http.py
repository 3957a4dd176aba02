"""HTTPCacheMiddleware against a small Starlette app, through httpx's ASGI transport, checked
against the http-caching.md checklist (V1, C1-C9, C11, C16, N1-N4, S1, S2, K1-K3, K5, K10)."""

from __future__ import annotations

import calendar
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.from_thread
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cachecheck import ClientSettings, World
from cachecheck import make_client as make_redis_client
from cachecheck.strategies._mutants_edge import (
    BodyOn304Middleware,
    StoresPrivateMiddleware,
    StringIMSMiddleware,
    UnquotedETagMiddleware,
    WeakIfMatchMiddleware,
)
from cachecheck.strategies.http import (
    EntityTagList,
    HTTPCacheMiddleware,
    evaluate_preconditions,
    format_http_date,
    make_strong_etag,
    parse_cache_control,
    parse_entity_tags,
    parse_http_date,
)

ETAG_SYNTAX = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')
#: Tue, 03 Nov 2026 10:00:00 GMT: string-compares greater than later dates on a Monday.
LAST_MODIFIED = "Tue, 03 Nov 2026 10:00:00 GMT"
START = 1_800_000_000.0


@dataclass
class Origin:
    """The app's state: item bodies, and how often each path reached the app."""

    items: dict[str, str] = field(default_factory=lambda: {"1": "first", "2": "second"})
    calls: Counter[str] = field(default_factory=Counter)
    now: float = START

    def clock(self) -> float:
        return self.now


def build_app(origin: Origin) -> Starlette:
    def counted(request: Request) -> None:
        origin.calls[request.url.path] += 1

    async def item(request: Request) -> Response:
        counted(request)
        item_id = request.path_params["item_id"]
        if request.method == "POST":
            origin.items[item_id] = (await request.body()).decode()
            return Response(status_code=204)
        if item_id not in origin.items:
            return Response(
                "no such item", status_code=404, headers={"cache-control": "max-age=60"}
            )
        return Response(
            origin.items[item_id], media_type="text/plain", headers={"cache-control": "max-age=60"}
        )

    async def dated(request: Request) -> Response:
        counted(request)
        headers = {"cache-control": "max-age=60", "last-modified": LAST_MODIFIED}
        return Response("dated", media_type="text/plain", headers=headers)

    async def private(request: Request) -> Response:
        counted(request)
        user = request.headers.get("x-user", "anonymous")
        return Response(f"hello {user}", headers={"cache-control": "private, max-age=60"})

    async def no_store(request: Request) -> Response:
        counted(request)
        return Response("secret", headers={"cache-control": "no-store"})

    async def cookie(request: Request) -> Response:
        counted(request)
        response = Response("welcome", headers={"cache-control": "max-age=60"})
        response.set_cookie("session", "abc")
        return response

    async def vary(request: Request) -> Response:
        counted(request)
        body = "bonjour" if request.headers.get("accept-language", "").startswith("fr") else "hello"
        return Response(body, headers={"cache-control": "max-age=60", "vary": "Accept-Language"})

    async def big(request: Request) -> Response:
        counted(request)
        return Response("x" * 5000, headers={"cache-control": "max-age=60"})

    return Starlette(
        routes=[
            Route("/item/{item_id}", item, methods=["GET", "POST"]),
            Route("/dated", dated),
            Route("/private", private),
            Route("/no-store", no_store),
            Route("/cookie", cookie),
            Route("/vary", vary),
            Route("/big", big),
        ]
    )


class Client:
    """A synchronous face of `httpx.AsyncClient` over `httpx.ASGITransport`, run on an
    anyio blocking portal (one event loop thread per test, stopped in teardown)."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app: HTTPCacheMiddleware) -> None:
        self._portal = portal
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            return await self._client.request(method, url, **options)

        return self._portal.call(send)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture
def origin() -> Origin:
    return Origin()


@pytest.fixture
def make_client(world: World, origin: Origin) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []
    with anyio.from_thread.start_blocking_portal() as portal:

        def make(cls: type[HTTPCacheMiddleware] = HTTPCacheMiddleware, **options: Any) -> Client:
            options.setdefault("redis_client", world.client())
            options.setdefault("max_body_bytes", 1000)
            middleware = cls(
                build_app(origin), namespace=world.namespace, wall_clock=origin.clock, **options
            )
            client = Client(portal, middleware)
            clients.append(client)
            return client

        yield make
        for client in clients:
            client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


# -- validators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "valid"), [(HTTPCacheMiddleware, True), (UnquotedETagMiddleware, False)]
)
def test_etag_is_a_quoted_strong_entity_tag(
    make_client: Callable[..., Client], cls: type[HTTPCacheMiddleware], valid: bool
) -> None:
    """V1: the ETag has the entity-tag syntax (the mutant drops the quotes)."""
    etag = make_client(cls).get("/item/1").headers["etag"]
    assert bool(ETAG_SYNTAX.fullmatch(etag)) is valid
    assert etag.startswith("W/") is False


def test_etag_is_computed_from_the_bytes_and_stable_across_processes(client: Client) -> None:
    """V4: the same representation gets the same ETag in another interpreter."""
    etag = client.get("/item/1").headers["etag"]
    assert etag == make_strong_etag(b"first", content_type="text/plain; charset=utf-8")
    code = (
        "from cachecheck.strategies.http import make_strong_etag;"
        "print(make_strong_etag(b'first', content_type='text/plain; charset=utf-8'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == etag
    assert client.get("/item/2").headers["etag"] != etag


# -- If-None-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "has_body"), [(HTTPCacheMiddleware, False), (BodyOn304Middleware, True)]
)
def test_matching_if_none_match_gives_a_bare_304(
    make_client: Callable[..., Client], cls: type[HTTPCacheMiddleware], has_body: bool
) -> None:
    """C1/N1-N4: a 304 with the 200's validators and Cache-Control, no body, no
    representation metadata (the mutant sends the body)."""
    client = make_client(cls)
    full = client.get("/item/1")
    etag = full.headers["etag"]
    response = client.get("/item/1", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == full.headers["cache-control"]
    assert (response.content != b"") is has_body
    if not has_body:
        assert "content-type" not in response.headers
        assert (
            response.headers.get("content-length", full.headers["content-length"])
            == full.headers["content-length"]
        )


@pytest.mark.parametrize(
    "inm",
    [
        "{etag}",
        "W/{etag}",
        '"a", {etag}',
        ' , "a",, {etag} ',
        '"x,y", W/{etag}',
        "*",
    ],
)
def test_if_none_match_uses_weak_comparison_over_lists(client: Client, inm: str) -> None:
    """C2-C4: weak comparison, lists with empty elements and commas inside tags, `*`."""
    etag = client.get("/item/1").headers["etag"]
    assert (
        client.get("/item/1", headers={"if-none-match": inm.format(etag=etag)}).status_code == 304
    )


@pytest.mark.parametrize("inm", ['"nope"', 'W/"nope"', "{bare}", "w/{etag}", '"a", "b"'])
def test_non_matching_if_none_match_gives_the_full_response(client: Client, inm: str) -> None:
    """C5: no match (incl. unquoted and lower-case `w/` forms, which are not tags) -> 200."""
    etag = client.get("/item/1").headers["etag"]
    response = client.get(
        "/item/1", headers={"if-none-match": inm.format(etag=etag, bare=etag.strip('"'))}
    )
    assert response.status_code == 200 and response.text == "first"


# -- If-Modified-Since ------------------------------------------------------------------------


def _formats(seconds: int) -> list[str]:
    """One instant in IMF-fixdate, rfc850 and asctime."""
    t = time.gmtime(seconds)
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    month = months[t.tm_mon - 1]
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return [
        format_http_date(seconds),
        f"{days[t.tm_wday]}, {t.tm_mday:02d}-{month}-{t.tm_year % 100:02d} {clock} GMT",
        f"{days[t.tm_wday][:3]} {month} {t.tm_mday:2d} {clock} {t.tm_year}",
    ]


LM_SECONDS = calendar.timegm((2026, 11, 3, 10, 0, 0))


@pytest.mark.parametrize(
    ("cls", "ok"),
    [(HTTPCacheMiddleware, True), (StringIMSMiddleware, False)],
    ids=["reference", "string-compare"],
)
def test_if_modified_since_is_compared_as_a_date(
    make_client: Callable[..., Client], cls: type[HTTPCacheMiddleware], ok: bool
) -> None:
    """C8: LM <= IMS -> 304, LM > IMS -> 200, in all three formats and across weekdays
    (the string-comparing mutant answers a later Monday with 200)."""
    client = make_client(cls)
    statuses = {}
    for delta in (-1, 0, 1, 6 * 86400):  # one second before .. the next Monday
        for date in _formats(LM_SECONDS + delta):
            statuses[date] = client.get("/dated", headers={"if-modified-since": date}).status_code
    expected = {
        date: 200 if delta < 0 else 304
        for delta in (-1, 0, 1, 6 * 86400)
        for date in _formats(LM_SECONDS + delta)
    }
    assert (statuses == expected) is ok


@pytest.mark.parametrize(
    "ims",
    [
        "garbage",
        LAST_MODIFIED.lower(),
        LAST_MODIFIED.replace("GMT", "+0000"),
        LAST_MODIFIED.replace("GMT", "PST"),
        LAST_MODIFIED.replace("03", "3"),
        LAST_MODIFIED.replace(" ", "  ", 1),
        f"{LAST_MODIFIED}, {LAST_MODIFIED}",
        "Tue, 31 Feb 2026 10:00:00 GMT",
        "",
    ],
)
def test_invalid_if_modified_since_is_ignored(client: Client, ims: str) -> None:
    """C9: invalid dates and lists are ignored (200), never an error."""
    assert client.get("/dated", headers={"if-modified-since": ims}).status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(client: Client) -> None:
    """C7: INM decides; IMS is ignored when INM is present."""
    etag = client.get("/dated").headers["etag"]
    later, earlier = _formats(LM_SECONDS + 60)[0], _formats(LM_SECONDS - 60)[0]
    mismatch = client.get(
        "/dated", headers={"if-none-match": '"other"', "if-modified-since": later}
    )
    assert mismatch.status_code == 200
    match = client.get("/dated", headers={"if-none-match": etag, "if-modified-since": earlier})
    assert match.status_code == 304
    assert match.headers["last-modified"] == LAST_MODIFIED


# -- If-Match -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "weak_status"),
    [(HTTPCacheMiddleware, 412), (WeakIfMatchMiddleware, 200)],
    ids=["reference", "weak"],
)
def test_if_match_uses_strong_comparison(
    make_client: Callable[..., Client], cls: type[HTTPCacheMiddleware], weak_status: int
) -> None:
    """C11: If-Match matches only strongly: a W/ tag fails (412)."""
    client = make_client(cls)
    etag = client.get("/item/1").headers["etag"]
    assert client.get("/item/1", headers={"if-match": etag}).status_code == 200
    assert client.get("/item/1", headers={"if-match": "*"}).status_code == 200
    assert client.get("/item/1", headers={"if-match": '"other"'}).status_code == 412
    assert client.get("/item/1", headers={"if-match": f"W/{etag}"}).status_code == weak_status


# -- HEAD, Vary, errors -----------------------------------------------------------------------


def test_head_is_answered_like_get(client: Client, origin: Origin) -> None:
    """C16: HEAD has GET's headers and no body; conditional HEAD gets a 304."""
    get = client.get("/item/1")
    head = client.head("/item/1")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == get.headers["content-length"] == "5"
    assert client.head("/item/1", headers={"if-none-match": get.headers["etag"]}).status_code == 304
    assert origin.calls["/item/1"] == 1  # HEAD was served from the stored GET


def test_vary_keeps_variants_apart(client: Client, origin: Origin) -> None:
    """S2/K8: a stored variant is reused only for the same Accept-Language; 304s keep Vary."""
    english = client.get("/vary", headers={"accept-language": "en"})
    assert english.text == "hello" and english.headers["vary"] == "Accept-Language"
    assert client.get("/vary", headers={"accept-language": "fr"}).text == "bonjour"
    assert client.get("/vary", headers={"accept-language": "fr"}).text == "bonjour"
    assert origin.calls["/vary"] == 2
    french = client.get("/vary", headers={"accept-language": "fr"})
    conditional = client.get(
        "/vary", headers={"accept-language": "fr", "if-none-match": french.headers["etag"]}
    )
    assert conditional.status_code == 304 and conditional.headers["vary"] == "Accept-Language"


def test_preconditions_do_not_change_an_error(client: Client) -> None:
    """C14: a 404 stays a 404 whatever the conditionals say."""
    for headers in (
        {"if-none-match": "*"},
        {"if-match": '"x"'},
        {"if-modified-since": LAST_MODIFIED},
    ):
        assert client.get("/item/9", headers=headers).status_code == 404


# -- the shared cache ------------------------------------------------------------------------


def test_fresh_responses_are_served_from_redis_with_age(client: Client, origin: Origin) -> None:
    """K5: a stored response is reused while fresh, with Age; refetched once stale."""
    assert client.get("/item/1").text == "first"
    origin.now += 5
    hit = client.get("/item/1")
    assert hit.text == "first" and hit.headers["age"] == "5"
    assert origin.calls["/item/1"] == 1
    origin.now += 60
    assert "age" not in client.get("/item/1").headers
    assert origin.calls["/item/1"] == 2


@pytest.mark.parametrize("path", ["/no-store", "/cookie"])
def test_no_store_and_set_cookie_responses_are_not_stored(
    client: Client, origin: Origin, path: str
) -> None:
    """K1, S4: no-store and Set-Cookie responses always reach the app."""
    client.get(path)
    client.get(path)
    assert origin.calls[path] == 2


@pytest.mark.parametrize(
    ("cls", "leaks"),
    [(HTTPCacheMiddleware, False), (StoresPrivateMiddleware, True)],
    ids=["reference", "stores-private"],
)
def test_private_responses_are_not_shared(
    make_client: Callable[..., Client], cls: type[HTTPCacheMiddleware], leaks: bool
) -> None:
    """K2/S1: one user's `private` page is never served to another by the shared cache."""
    client = make_client(cls)
    assert client.get("/private", headers={"x-user": "alice"}).text == "hello alice"
    bob = client.get("/private", headers={"x-user": "bob"}).text
    assert (bob == "hello alice") is leaks


def test_unsafe_methods_invalidate_the_stored_response(client: Client, origin: Origin) -> None:
    """K10: a successful POST to the URI removes its stored GET response."""
    assert client.get("/item/1").text == "first"
    assert client.post("/item/1", content=b"changed").status_code == 204
    assert client.get("/item/1").text == "changed"
    assert origin.calls["/item/1"] == 3


def test_request_no_cache_revalidates_with_the_app(client: Client, origin: Origin) -> None:
    """K3 (request side): no-cache and max-age=0 skip the stored response."""
    client.get("/item/1")
    client.get("/item/1", headers={"cache-control": "no-cache"})
    client.get("/item/1", headers={"cache-control": "max-age=0"})
    client.get("/item/1", headers={"pragma": "no-cache"})
    assert origin.calls["/item/1"] == 4


def test_derived_last_modified_never_repeats_within_a_second(
    client: Client, origin: Origin
) -> None:
    """#41: a change within the same second must not make an old IMS date look current."""
    origin.now = START + 0.2
    client.get("/item/1")  # stored, first seen at .2
    assert "last-modified" not in client.get("/item/1").headers  # not before the second ends
    origin.now = START + 1.5
    first = client.get("/item/1")
    assert first.headers["last-modified"] == format_http_date(START + 1)
    origin.now = START + 1.7
    client.post("/item/1", content=b"changed")  # same second
    client.get("/item/1")  # stored again, first seen at 1.7
    origin.now = START + 3
    response = client.get("/item/1", headers={"if-modified-since": first.headers["last-modified"]})
    assert response.status_code == 200 and response.text == "changed"
    assert response.headers["last-modified"] == format_http_date(START + 2)


def test_large_responses_stream_through_unchanged(client: Client, origin: Origin) -> None:
    response = client.get("/big")
    assert response.text == "x" * 5000 and "etag" not in response.headers
    assert client.head("/big").content == b""
    assert origin.calls["/big"] == 2


def test_redis_down_fails_open(make_client: Callable[..., Client], origin: Origin) -> None:
    """With Redis unreachable, responses still carry validators and 304s still work."""
    dead = make_redis_client(
        "redis://127.0.0.1:1/0", ClientSettings(socket_timeout=0.2, connect_timeout=0.2)
    )
    try:
        client = make_client(redis_client=dead)
        etag = client.get("/item/1").headers["etag"]
        assert client.get("/item/1", headers={"if-none-match": etag}).status_code == 304
        assert origin.calls["/item/1"] == 2
    finally:
        dead.close()


def test_missing_anyio_names_the_extra(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anyio.to_thread", None)
    with pytest.raises(ImportError, match=r"pytest-cachecheck\[http\]"):
        HTTPCacheMiddleware(
            build_app(Origin()), redis_client=world.client(), namespace=world.namespace
        )


# -- the pure helpers ----------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=253402300799))
def test_http_date_round_trips_in_all_three_formats(seconds: int) -> None:
    """Every format of the same instant parses to that instant (1 s resolution)."""
    imf, rfc850, asctime = _formats(seconds)
    assert parse_http_date(imf) == seconds
    assert parse_http_date(asctime) == seconds
    assert parse_http_date(rfc850, now=float(seconds)) == seconds  # two-digit year: 50-year rule


def test_entity_tag_lists_and_cache_control_parse_strictly() -> None:
    assert parse_entity_tags("*") == EntityTagList(any=True)
    assert parse_entity_tags('"a,b", W/"c"') == EntityTagList(any=False, tags=('"a,b"', 'W/"c"'))
    assert parse_entity_tags('w/"c"') is None and parse_entity_tags("abc") is None
    cc = parse_cache_control('max-age=60, private="set-cookie", no-cache, MAX-AGE=5, s-maxage="10"')
    assert cc.directives["private"] == "set-cookie" and "no-cache" in cc
    assert cc.delta_seconds("max-age") == -1  # duplicated: treated as stale
    assert cc.delta_seconds("s-maxage") == 10  # recipients accept the quoted form (9111 §5.2)
    assert parse_cache_control("max-age=ten").delta_seconds("max-age") == -1  # invalid: stale
    assert parse_cache_control("max-age=99999999999").delta_seconds("max-age") == 2_147_483_648


def test_evaluate_preconditions_order() -> None:
    """C13 spot checks of the pure evaluator: If-Match, then IUS, then INM, then IMS."""
    etag, lm = '"v1"', LAST_MODIFIED
    later = _formats(LM_SECONDS + 10)[0]
    earlier = _formats(LM_SECONDS - 10)[0]
    assert (
        evaluate_preconditions(
            "GET", {"if-match": '"x"', "if-none-match": etag}, etag=etag, last_modified=lm
        )
        == 412
    )
    assert (
        evaluate_preconditions("GET", {"if-unmodified-since": earlier}, etag=etag, last_modified=lm)
        == 412
    )
    assert (
        evaluate_preconditions(
            "GET", {"if-match": etag, "if-unmodified-since": earlier}, etag=etag, last_modified=lm
        )
        == 200
    )
    assert (
        evaluate_preconditions("HEAD", {"if-modified-since": later}, etag=etag, last_modified=lm)
        == 304
    )
    assert (
        evaluate_preconditions("GET", {"if-modified-since": later}, etag=etag, last_modified=None)
        == 200
    )
    assert (
        evaluate_preconditions("POST", {"if-none-match": "*"}, etag=etag, last_modified=lm) == 200
    )
