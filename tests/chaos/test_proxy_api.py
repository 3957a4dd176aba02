"""The embedded server's HTTP API answers exactly as Toxiproxy 2.12 does: routes, status codes,
JSON shapes and field order, error bodies (shared/reference/toxiproxy.md section 2)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cachecheck.chaos import EmbeddedToxiproxy

Reply = tuple[int, dict[str, str], bytes]


class Api:
    """Raw HTTP against the server, to see bytes and headers exactly."""

    def __init__(self, server: EmbeddedToxiproxy) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=5)

    def __call__(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=raw, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _, data = self(method, path, body)
        return status, json.loads(data) if data else None


@pytest.fixture
def api(toxiproxy_server: EmbeddedToxiproxy) -> Iterator[Api]:
    client = Api(toxiproxy_server)
    yield client
    _, proxies = client.json("GET", "/proxies")
    for name in proxies:
        client("DELETE", f"/proxies/{name}")
    client.conn.close()


def create(api: Api, name: str = "p", upstream: str = "127.0.0.1:9", **extra: Any) -> Any:
    status, body = api.json("POST", "/proxies", {"name": name, "upstream": upstream, **extra})
    assert status == 201, body
    return body


def error(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode() + b"\n"


def test_version_is_json_with_a_newline(api: Api) -> None:
    status, headers, body = api("GET", "/version")
    assert (status, body) == (200, b'{"version": "2.12.0"}\n')
    assert headers["content-type"] == "application/json;charset=utf-8"
    assert "x-toxiproxy-request-id" in headers


def test_create_returns_201_and_the_proxy_in_go_field_order(api: Api) -> None:
    status, headers, body = api(
        "POST", "/proxies", {"name": "p", "upstream": "localhost:9", "listen": "localhost:0"}
    )
    assert status == 201 and headers["content-type"] == "application/json"
    proxy = json.loads(body)
    assert list(proxy) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert proxy["listen"].startswith("127.0.0.1:") and not proxy["listen"].endswith(":0")
    assert (proxy["upstream"], proxy["enabled"], proxy["Logger"], proxy["toxics"]) == (
        "localhost:9",
        True,
        {},
        [],
    )


def test_create_checks_body_then_name_then_upstream_then_duplicate(api: Api) -> None:
    assert api("POST", "/proxies", b"")[::2] == (400, error(400, "bad request body: EOF"))
    assert api("POST", "/proxies", b"{")[0] == 400
    assert api("POST", "/proxies", {"upstream": "x:1"})[::2] == (
        400,
        error(400, "missing required field: name"),
    )
    assert api("POST", "/proxies", {"name": "p"})[::2] == (
        400,
        error(400, "missing required field: upstream"),
    )
    create(api)
    status, headers, body = api("POST", "/proxies", {"name": "p", "upstream": "x:2"})
    assert (status, body) == (409, error(409, "proxy already exists"))
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"


def test_create_reports_type_errors_and_reads_keys_case_insensitively(api: Api) -> None:
    status, _, body = api("POST", "/proxies", {"name": 5, "upstream": "x:1"})
    assert status == 400 and json.loads(body)["error"].startswith("bad request body: json:")
    status, proxy = api.json(
        "POST",
        "/proxies",
        {"NAME": "q", "Upstream": "x:1", "enabled": False, "listen": "127.0.0.1:0"},
    )
    assert (status, proxy["name"], proxy["enabled"], proxy["listen"]) == (
        201,
        "q",
        False,
        "127.0.0.1:0",  # a disabled proxy echoes listen as given
    )


def test_bind_failure_is_a_500_with_the_os_message(api: Api) -> None:
    taken = create(api, "a")["listen"]
    status, _, body = api("POST", "/proxies", {"name": "b", "upstream": "x:1", "listen": taken})
    assert status == 500
    assert json.loads(body) == {
        "error": f"listen tcp {taken}: bind: address already in use",
        "status": 500,
    }
    assert api.json("GET", "/proxies/b")[0] == 404


def test_index_is_an_object_keyed_by_sorted_name(api: Api) -> None:
    assert api("GET", "/proxies")[::2] == (200, b"{}")
    for name in ("b", "a", "c"):
        create(api, name)
    status, proxies = api.json("GET", "/proxies")
    assert status == 200 and list(proxies) == ["a", "b", "c"]


def test_show_update_delete(api: Api) -> None:
    listen = create(api)["listen"]
    assert api.json("GET", "/proxies/p")[1]["listen"] == listen
    assert api("GET", "/proxies/nope")[::2] == (404, error(404, "proxy not found"))
    status, proxy = api.json("POST", "/proxies/p", {"enabled": False, "name": "ignored"})
    assert (status, proxy["name"], proxy["enabled"], proxy["listen"]) == (200, "p", False, listen)
    status, proxy = api.json("PATCH", "/proxies/p", {"enabled": True})
    assert (status, proxy["enabled"], proxy["listen"]) == (200, True, listen)
    assert api.json("PATCH", "/proxies/p", {"upstream": "y:2"})[1]["upstream"] == "y:2"
    assert api("DELETE", "/proxies/p")[::2] == (204, b"")
    assert api("DELETE", "/proxies/p")[0] == 404


def test_toxic_create_defaults_and_shape(api: Api) -> None:
    create(api)
    status, headers, body = api(
        "POST", "/proxies/p/toxics", {"type": "latency", "stream": "UpStream"}
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert body == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_UpStream","type":"latency",'
        b'"stream":"UpStream","toxicity":1}'
    )
    status, toxic = api.json(
        "POST",
        "/proxies/p/toxics",
        {"type": "slicer", "toxicity": 0.5, "attributes": {"average_size": 8, "size_variation": 2}},
    )
    assert toxic == {
        "attributes": {"average_size": 8, "size_variation": 2, "delay": 0},
        "name": "slicer_downstream",
        "type": "slicer",
        "stream": "downstream",
        "toxicity": 0.5,
    }


def test_toxic_create_checks_in_toxiproxy_order(api: Api) -> None:
    create(api)
    api("POST", "/proxies/p/toxics", {"type": "latency"})
    cases = [
        ("/proxies/nope/toxics", {"type": "latency"}, 404, "proxy not found"),
        ("/proxies/p/toxics", b"[", 400, None),
        (
            "/proxies/p/toxics",
            {"type": "nope", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ("/proxies/p/toxics", {"type": "nope"}, 400, "invalid toxic type"),
        ("/proxies/p/toxics", {}, 400, "invalid toxic type"),
        (
            "/proxies/p/toxics",
            {"type": "timeout", "name": "latency_downstream", "stream": "upstream"},
            409,
            "toxic already exists",
        ),
        ("/proxies/p/toxics", {"type": "timeout", "attributes": {"timeout": 1.5}}, 400, None),
        ("/proxies/p/toxics", {"type": "timeout", "attributes": {"timeout": "1"}}, 400, None),
    ]
    for path, body, status, message in cases:
        got_status, _, got = api("POST", path, body)
        assert got_status == status, (body, got)
        assert json.loads(got)["status"] == status
        if message is not None:
            assert json.loads(got)["error"] == message


def test_inputs_that_crash_real_toxiproxy_get_400(api: Api) -> None:
    """Documented divergence: negative bandwidth and bad slicer sizes are refused."""
    create(api)
    for body in (
        {"type": "bandwidth", "attributes": {"rate": -1}},
        {"type": "slicer"},
        {"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}},
        {"type": "slicer", "attributes": {"average_size": 4, "size_variation": -1}},
    ):
        status, _, got = api("POST", "/proxies/p/toxics", body)
        assert status == 400 and json.loads(got)["error"].startswith("bad request body: ")


def test_toxic_update_merges_attributes_and_ignores_identity_fields(api: Api) -> None:
    create(api)
    api("POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 100}})
    status, toxic = api.json(
        "PATCH",
        "/proxies/p/toxics/latency_downstream",
        {"attributes": {"jitter": 5}, "name": 1, "type": "x"},
    )
    assert status == 200
    assert (toxic["attributes"], toxic["name"], toxic["type"]) == (
        {"latency": 100, "jitter": 5},
        "latency_downstream",
        "latency",
    )
    assert (
        api.json("POST", "/proxies/p/toxics/latency_downstream", {"toxicity": 0.25})[1]["toxicity"]
        == 0.25
    )
    assert api("POST", "/proxies/p/toxics/nope", {})[::2] == (404, error(404, "toxic not found"))


def test_toxic_index_show_delete(api: Api) -> None:
    create(api)
    api("POST", "/proxies/p/toxics", {"type": "latency"})
    api("POST", "/proxies/p/toxics", {"type": "timeout", "stream": "upstream"})
    toxics = api.json("GET", "/proxies/p/toxics")[1]
    assert [t["name"] for t in toxics] == ["timeout_upstream", "latency_downstream"]
    assert api.json("GET", "/proxies/p")[1]["toxics"] == toxics
    assert api.json("GET", "/proxies/p/toxics/timeout_upstream")[1] == toxics[0]
    assert api("DELETE", "/proxies/p/toxics/timeout_upstream")[::2] == (204, b"")
    assert api("GET", "/proxies/p/toxics/timeout_upstream")[0] == 404
    assert api("GET", "/proxies/nope/toxics")[0] == 404


def test_reset_is_204_and_clears_toxics_and_enables(api: Api) -> None:
    create(api, enabled=False, listen="127.0.0.1:0")
    api("POST", "/proxies/p/toxics", {"type": "latency"})
    assert api("POST", "/reset")[::2] == (204, b"")
    proxy = api.json("GET", "/proxies/p")[1]
    assert proxy["enabled"] is True and proxy["toxics"] == []
    assert api("GET", "/reset")[0] == 405


def test_router_answers_like_gorilla_mux(api: Api) -> None:
    assert api("GET", "/nope")[::2] == (404, b"404 page not found\n")
    assert api("GET", "/proxies/")[0] == 404  # a trailing slash does not match
    assert api("PUT", "/proxies")[::2] == (405, b"")
    status, headers, _ = api("GET", "/proxies/../version")
    assert (status, headers["location"]) == (301, "/version")
    status, _, body = api("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (status, body) == (403, b"User agent not allowed\n")
    assert api("GET", "/nope", headers={"User-Agent": "Mozilla/5.0"})[0] == 404


def test_populate_creates_keeps_and_replaces(api: Api) -> None:
    status, body = api.json(
        "POST", "/populate", [{"name": "a", "upstream": "x:1"}, {"name": "b", "upstream": "x:2"}]
    )
    assert status == 201 and [p["name"] for p in body["proxies"]] == ["a", "b"]
    listen_a = body["proxies"][0]["listen"]
    api("POST", "/proxies/a/toxics", {"type": "latency"})
    status, body = api.json(
        "POST",
        "/populate",
        [
            {"name": "a", "upstream": "x:1", "listen": listen_a},  # same: kept with its toxics
            {"name": "b", "upstream": "x:3"},  # different: replaced
        ],
    )
    assert status == 201
    assert [t["name"] for t in body["proxies"][0]["toxics"]] == ["latency_downstream"]
    assert body["proxies"][1]["upstream"] == "x:3"
    assert api("POST", "/populate", [])[::2] == (201, b'{"proxies":null}')


def test_populate_validates_everything_before_creating_anything(api: Api) -> None:
    status, headers, body = api(
        "POST", "/populate", [{"name": "a", "upstream": "x:1"}, {"name": "b"}]
    )
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api.json("GET", "/proxies")[1] == {}
    assert api.json("POST", "/populate", {"name": "a"})[0] == 400


def test_populate_stops_at_the_first_bind_failure(api: Api) -> None:
    taken = create(api, "z")["listen"]
    status, body = api.json(
        "POST",
        "/populate",
        [
            {"name": "a", "upstream": "x:1"},
            {"name": "b", "upstream": "x:1", "listen": taken},
            {"name": "c", "upstream": "x:1"},
        ],
    )
    assert status == 500 and body["status"] == 500
    assert [p["name"] for p in body["proxies"]] == ["a"]
    assert sorted(api.json("GET", "/proxies")[1]) == ["a", "z"]


def test_requests_over_the_size_limit_are_refused(toxiproxy_server: EmbeddedToxiproxy) -> None:
    with socket.create_connection((toxiproxy_server.host, toxiproxy_server.port), timeout=5) as s:
        s.sendall(b"POST /proxies HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413 ")
    with socket.create_connection((toxiproxy_server.host, toxiproxy_server.port), timeout=5) as s:
        s.sendall(b"GET /version HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431 ")
