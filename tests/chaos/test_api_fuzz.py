"""The HTTP API fuzzed with Hypothesis: random methods, paths, JSON bodies and raw bytes.

The oracle is what real Toxiproxy does: it answers every request; the only 5xx it gives for a
well-formed request is a 500 for a proxy that cannot listen ("listen tcp ..."). So: never a
crash, never a dropped request, never another 5xx, and every JSON error body is well-formed.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cachecheck.chaos import EmbeddedToxiproxy

STATUSES = {200, 201, 204, 301, 400, 403, 404, 405, 409}
FIELDS = [
    "name",
    "upstream",
    "listen",
    "enabled",
    "type",
    "stream",
    "toxicity",
    "attributes",
    "latency",
    "jitter",
    "rate",
    "delay",
    "timeout",
    "average_size",
    "size_variation",
    "bytes",
    "Logger",
    "NAME",
]
WORDS = [
    "proxies",
    "toxics",
    "p",
    "q",
    "latency_downstream",
    "reset",
    "populate",
    "version",
    "",
    ".",
    "..",
    "%2F",
    "%zz",
    "%00",
    "a%20b",
]
LISTENS = [
    "127.0.0.1:0",
    "localhost:0",
    "",
    ":0",
    "bogus",
    "127.0.0.1:99999",
    "[::1]:0",
    "127.0.0.1:x",
]
TYPES = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    "down",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(TYPES + LISTENS + ["upstream", "downstream", "UpStream"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=12,
)
attributes = st.dictionaries(
    st.sampled_from(FIELDS[8:16]),
    st.integers(-5, 10**6) | st.floats(-1, 1e6) | st.text(max_size=3) | st.none(),
    max_size=4,
)
# Objects with the fields the API reads, so that requests get past the first checks.
objects = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["p", "q", "latency_downstream"]) | st.text(max_size=6),
        "upstream": st.sampled_from(["127.0.0.1:9", "localhost:1", "x"]) | st.text(max_size=6),
        "listen": st.sampled_from(LISTENS),
        "enabled": st.booleans(),
        "type": st.sampled_from(TYPES),
        "stream": st.sampled_from(["upstream", "downstream", "UpStream", "side", ""]),
        "toxicity": st.floats(-1, 2) | st.integers(-1, 2),
        "attributes": attributes | json_values,
    },
)
bodies = st.one_of(
    st.none(),
    st.one_of(objects, st.lists(objects, max_size=3), json_values).map(
        lambda value: json.dumps(value).encode()
    ),
    st.binary(max_size=40),
)
paths = st.one_of(
    st.sampled_from(
        [
            "/version",
            "/reset",
            "/proxies",
            "/populate",
            "/proxies/p",
            "/proxies/p/toxics",
            "/proxies/p/toxics/latency_downstream",
            "/proxies/q/toxics/x",
        ]
    ),
    st.lists(
        st.sampled_from(WORDS) | st.text(max_size=5).map(lambda t: quote(t, safe="")), max_size=4
    ).map(lambda parts: "/" + "/".join(parts)),
)
#: Plain-text error bodies of Go's net/http and gorilla/mux (405 has none).
_PLAIN_ERRORS = {b"404 page not found\n", b"400 Bad Request", b"", b"User agent not allowed\n"}
methods = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"])


ROUTES = [
    ("GET", "/version"),
    ("POST", "/reset"),
    ("GET", "/proxies"),
    ("POST", "/proxies"),
    ("POST", "/populate"),
    ("GET", "/proxies/p"),
    ("POST", "/proxies/p"),
    ("PATCH", "/proxies/p"),
    ("DELETE", "/proxies/p"),
    ("GET", "/proxies/p/toxics"),
    ("POST", "/proxies/p/toxics"),
    ("POST", "/proxies/q/toxics"),
    ("GET", "/proxies/p/toxics/latency_downstream"),
    ("POST", "/proxies/p/toxics/latency_downstream"),
    ("PATCH", "/proxies/p/toxics/latency_downstream"),
    ("DELETE", "/proxies/p/toxics/latency_downstream"),
]
# Mostly real routes with random bodies, sometimes anything at all.
requests = st.one_of(
    st.tuples(st.sampled_from(ROUTES), bodies).map(lambda r: (r[0][0], r[0][1], r[1])),
    st.tuples(methods, paths, bodies),
)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=0) as server:
        yield server


def _request(
    server: EmbeddedToxiproxy, method: str, path: str, body: bytes | None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _fresh_state(server: EmbeddedToxiproxy) -> None:
    """Delete every proxy, then create "p" with one toxic so that deep routes are reachable."""
    _, data = _request(server, "GET", "/proxies", None)
    for name in json.loads(data):
        _request(server, "DELETE", "/proxies/" + quote(name, safe=""), None)
    body = json.dumps({"name": "p", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"})
    assert _request(server, "POST", "/proxies", body.encode())[0] == 201
    assert _request(server, "POST", "/proxies/p/toxics", b'{"type":"latency"}')[0] == 200


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(requests, min_size=1, max_size=4))
def test_random_requests_get_toxiproxy_answers(
    fuzz_server: EmbeddedToxiproxy, requests: list[tuple[str, str, bytes | None]]
) -> None:
    _fresh_state(fuzz_server)
    for method, path, body in requests:
        status, data = _request(fuzz_server, method, path, body)
        event(f"status {status}")
        assert status in STATUSES or _is_listen_error(status, data), (method, path, body, data)
        if method == "HEAD":
            continue  # no body to look at
        if data.startswith(b"{") and status >= 400:
            error = json.loads(data)
            assert error["status"] == status and isinstance(error["error"], str)
        else:
            assert status < 400 or data in _PLAIN_ERRORS, (method, path, body, data)
    assert _request(fuzz_server, "GET", "/version", None)[0] == 200


def _is_listen_error(status: int, data: bytes) -> bool:
    if status != 500:
        return False
    error = json.loads(data)
    return bool(error["status"] == 500 and error["error"].startswith("listen tcp"))


@settings(max_examples=40, deadline=None)
@given(
    raw=st.binary(max_size=200)
    | st.sampled_from(
        [
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET\r\n\r\n",
            b"POST /proxies HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n",
        ]
    )
)
def test_raw_garbage_never_breaks_the_server(fuzz_server: EmbeddedToxiproxy, raw: bytes) -> None:
    """Arbitrary bytes get an HTTP answer or a close, and the server keeps serving."""
    with socket.create_connection((fuzz_server.host, fuzz_server.port), timeout=5) as sock:
        sock.sendall(raw + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(64)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
        if answer.startswith(b"HTTP/1.1 5"):
            assert answer[9:12] in (b"500", b"501", b"505"), answer
    assert _request(fuzz_server, "GET", "/version", None)[0] == 200
