"""Dedicated property checks for the edge strategies the stateful model cannot judge: the
remap fraction of a sharded cache, a key moving away and back, torn reads of chunked
values, hit/miss counters, and HTTP validators and storage rules.

Each runs in well under a second against the world's real Redis and database and returns a
`ScenarioResult` like the chaos scenarios, so `catch_mutant` treats them alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from cachecheck._client import make_client
from cachecheck._contract import Contract
from cachecheck._model import SubjectFactory
from cachecheck._world import World
from cachecheck.checkers import CheckResult, Finding, check_staleness
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    IoGate,
    Subjects,
    ThreadGroup,
    describe_params,
    recorded_read,
    recorded_write,
    scenario_rng,
    subject_name,
)
from cachecheck.scenarios._result import ScenarioResult, build_result, scenario_finding

__all__ = [
    "HttpParams",
    "MetricsParams",
    "RemapParams",
    "ShardFlapParams",
    "TornReadParams",
    "run_http_conformance",
    "run_metrics_accuracy",
    "run_remap_fraction",
    "run_shard_flap",
    "run_torn_read",
]


def _finish(
    name: str,
    subject: str,
    params: object,
    world: World,
    measurements: dict[str, Any],
    *,
    checks: Sequence[CheckResult] = (),
    findings: Sequence[Finding] = (),
    figures: Sequence[dict[str, Any] | None] = (),
    seed: int,
    started: float,
    description: str,
) -> ScenarioResult:
    return build_result(
        name, subject, checks=checks, findings=findings,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements, figures=figures, seed=seed,
        seconds=time.monotonic() - started, description=description,
    )  # fmt: skip


# -- sharding: remap fraction ---------------------------------------------------------------------


@dataclass(frozen=True)
class RemapParams:
    """A ring of `nodes` nodes gets one more; of `sample` keys, the fraction that changes
    owner must stay below `tolerance` times the consistent-hashing ideal 1 / (nodes + 1)."""

    nodes: int = 3
    sample: int = 5000
    tolerance: float = 2.0


def run_remap_fraction(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: RemapParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Adding a node to a sharded cache moves about 1/(n+1) of the keys, not n/(n+1).
    The subject needs `add_node(name, client)` and `owners(keys)` (`ShardedCache`)."""
    params = params or RemapParams()
    started = time.monotonic()
    rng = scenario_rng("remap_fraction", seed)
    keys = [f"user:{rng.getrandbits(48):x}" for _ in range(params.sample)]
    with Subjects(world, factory) as subjects:
        cache = subjects.one()
        while len(cache.nodes) < params.nodes:
            cache.add_node(f"extra{len(cache.nodes)}", world.client())
        before = cache.owners(keys)
        cache.add_node("added", world.client())
        after = cache.owners(keys)
        name = subject_name(cache, contract.name)
    moved = sum(before[k] != after[k] for k in keys) / len(keys)
    ideal = 1 / (params.nodes + 1)
    findings = []
    if moved > params.tolerance * ideal:
        findings.append(scenario_finding(
            "remap_fraction", f"Adding a node to {params.nodes} moved {moved:.1%} of the keys; "
            f"consistent hashing moves about {ideal:.1%} (allowed up to "
            f"{params.tolerance * ideal:.1%}).", checker="sharding", moved=moved,
            ideal=ideal))  # fmt: skip
    measured = {"moved_fraction": round(moved, 4), "ideal_fraction": round(ideal, 4),
                "keys": params.sample}  # fmt: skip
    figure = fig.bars("Keys that change owner on adding a node", "fraction",
                      [("measured", moved), ("ideal 1/(n+1)", ideal)])  # fmt: skip
    return _finish("remap_fraction", name, params, world, measured, findings=findings,
                   figures=[figure], seed=seed, started=started,
                   description="Owners of sampled keys before and after adding a node.",
                   )  # fmt: skip


# -- sharding: a key moves away and back ---------------------------------------------------------


@dataclass(frozen=True)
class ShardFlapParams:
    """`nodes` nodes, each its own Redis database (db 1, 2, ... of the world's server, which
    cachecheck must have started); `candidates` keys are tried to find one that moves to the
    added node."""

    nodes: int = 3
    candidates: int = 500


def _db_url(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def run_shard_flap(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: ShardFlapParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """k is cached on its owner X; a node is added and k moves to it; k is written (the
    invalidation reaches the new owner only); the node is removed and k moves back to X,
    which still holds the old copy: no read after the write may return it."""
    params = params or ShardFlapParams()
    if not world.redis_server.owned:
        raise ValueError("run_shard_flap writes to other Redis databases of the server: it "
                         "needs a server cachecheck started")  # fmt: skip
    started = time.monotonic()
    world.reset()
    clients: list[redis.Redis] = []
    try:
        with Subjects(world, factory) as subjects:
            cache, probe = subjects.make(2)
            for cache_ in (cache, probe):
                for db in range(1, params.nodes):
                    clients.append(make_client(_db_url(world.redis_url, db), world.settings))
                    cache_.add_node(f"db{db}", clients[-1])
            key = _mover(world, probe, params, seed, clients)
            flap = _flap(world, cache, key, params, clients)
            name = subject_name(cache, contract.name)
    finally:
        _clean(world, clients)
    ops, commits = world.history.ops, world.database.commits()
    staleness = check_staleness(ops, commits, contract.evolve(staleness_bound=0.0))
    return _finish("shard_flap", name, params, world, {"key": key, **flap},
                   checks=[staleness], seed=seed, started=started,
                   description="A key moves to an added node, is written, and moves back "
                   "when the node leaves: its old copy must not be served.")  # fmt: skip


def _mover(world: World, probe: Any, params: ShardFlapParams, seed: int,
           clients: list[redis.Redis]) -> str:  # fmt: skip
    """A key that moves to the added node (found on a throwaway copy of the ring)."""
    rng = scenario_rng("shard_flap", seed)
    keys = [f"user:{rng.getrandbits(48):x}" for _ in range(params.candidates)]
    before = probe.owners(keys)
    clients.append(make_client(_db_url(world.redis_url, params.nodes), world.settings))
    probe.add_node("added", clients[-1])
    after = probe.owners(keys)
    moved = [k for k in keys if before[k] != after[k] and after[k] == "added"]
    if not moved:
        raise RuntimeError(f"none of {len(keys)} keys moves to an added node")
    return moved[0]


def _flap(
    world: World, cache: Any, key: str, params: ShardFlapParams, clients: list[redis.Redis]
) -> dict[str, Any]:
    world.database.write(key, f"{key}#v1")
    recorded_read(world, "c", cache, key)  # cached on its owner
    clients.append(make_client(_db_url(world.redis_url, params.nodes), world.settings))
    cache.add_node("added", clients[-1])
    recorded_write(world, "c", cache, key, f"{key}#v2")
    moved_read = recorded_read(world, "c", cache, key)
    cache.remove_node("added")
    back = recorded_read(world, "c", cache, key)
    return {"read_on_new_owner": moved_read.value, "read_after_move_back": back.value,
            "database": f"{key}#v2"}  # fmt: skip


def _clean(world: World, clients: list[redis.Redis]) -> None:
    for client in clients:
        try:
            names = list(client.scan_iter(match=world.namespace + "*", count=1000))
            if names:
                client.delete(*names)
        except redis.RedisError:
            pass
        finally:
            client.close()


# -- chunked values: torn reads -------------------------------------------------------------------


@dataclass(frozen=True)
class TornReadParams:
    """Values of `old_chunks` and `new_chunks` times the subject's `limit_bytes` (default
    1024 when it has none)."""

    key: str = "doc"
    old_chunks: float = 1.5
    new_chunks: float = 2.5
    step_timeout: float = 10.0


def run_torn_read(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: TornReadParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """X misses and loads the old value, and is held before storing it; Y writes a longer new
    value and fills it; X's late fill then runs (its entry is refused, but what about its
    chunks?); a third reader must see a value that was written, whole."""
    params = params or TornReadParams()
    started = time.monotonic()
    world.reset()
    with Subjects(world, factory) as subjects:
        x, y, reader = subjects.make(3)
        limit = int(getattr(x, "limit_bytes", 1024))
        old, new = "B" * int(params.old_chunks * limit), "C" * int(params.new_chunks * limit)
        recorded_write(world, "W", y, params.key, old)
        with ThreadGroup() as group, IoGate(world) as gate:
            held = gate.hold_after_db_read("torn-X")
            group.start("torn-X", lambda: recorded_read(world, "X", x, params.key))
            if not held.wait(params.step_timeout):
                raise RuntimeError("run_torn_read: X never loaded the old value")
            recorded_write(world, "W", y, params.key, new)
            recorded_read(world, "Y", y, params.key)
            gate.release_all()
        seen = recorded_read(world, "R", reader, params.key)
        name = subject_name(x, contract.name)
    findings = []
    if seen.value not in (old, new, None):
        findings.append(scenario_finding(
            "no_torn_reads", f"A read of {params.key!r} returned {len(seen.value or '')} "
            f"characters mixing two writes (it starts {(seen.value or '')[:8]!r}…): chunks of "
            "a late fill replaced chunks of a newer value.", checker="size",
            length=len(seen.value or "")))  # fmt: skip
    measured = {"limit_bytes": limit, "read_length": len(seen.value or ""),
                "read_is_newest": seen.value == new, "torn": bool(findings)}  # fmt: skip
    return _finish("torn_read", name, params, world, measured, findings=findings, seed=seed,
                   started=started,
                   description="A late fill of an old chunked value races a newer write and "
                   "its fill: reads must never mix the two.")  # fmt: skip


# -- metrics: hit and miss counters ---------------------------------------------------------------


@dataclass(frozen=True)
class MetricsParams:
    """`reads` seeded reads over `present` existing keys and `absent` missing ones."""

    reads: int = 20
    present: int = 2
    absent: int = 1


def run_metrics_accuracy(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: MetricsParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """The cache's hit and miss counters agree with the truth: a miss is exactly a database
    load, a hit is a read that did not load (a cached absence included). The subject needs
    `sample(metric)` (Prometheus samples) or `hits` / `misses` attributes."""
    params = params or MetricsParams()
    started = time.monotonic()
    world.reset()
    rng = scenario_rng("metrics", seed)
    keys = [f"p{i}" for i in range(params.present)] + [f"a{i}" for i in range(params.absent)]
    for key in keys[: params.present]:
        world.database.write(key, f"{key}#v1")
    with Subjects(world, factory) as subjects:
        cache = subjects.one()
        for _ in range(params.reads):
            recorded_read(world, "c", cache, rng.choice(keys))
        hits, misses = _counters(cache)
        name = subject_name(cache, contract.name)
    loads = len(world.database.loads())
    truth = (params.reads - loads, loads)
    findings = []
    if (hits, misses) != truth:
        findings.append(scenario_finding(
            "hit_miss_counts", f"The cache counted {hits} hits and {misses} misses for "
            f"{params.reads} reads, of which {loads} loaded from the database: expected "
            f"{truth[0]} hits and {truth[1]} misses (a cached absence is a hit).",
            checker="metrics", counted=[hits, misses], expected=list(truth)))  # fmt: skip
    measured = {"hits": hits, "misses": misses, "expected_hits": truth[0],
                "expected_misses": truth[1]}  # fmt: skip
    figure = fig.bars("Counted against true", "reads",
                      [("hits counted", hits), ("hits true", truth[0]),
                       ("misses counted", misses), ("misses true", truth[1])])  # fmt: skip
    return _finish("metrics_accuracy", name, params, world, measured, findings=findings,
                   figures=[figure], seed=seed, started=started,
                   description="Seeded reads over present and absent keys; counters against "
                   "database loads.")  # fmt: skip


def _counters(cache: Any) -> tuple[float, float]:
    sample = getattr(cache, "sample", None)
    if callable(sample):
        return float(sample("cache_hits_total") or 0), float(sample("cache_misses_total") or 0)
    return float(cache.hits), float(cache.misses)


# -- HTTP validators and storage ------------------------------------------------------------------

#: A Tuesday; the Monday six days later compares smaller as a string ("Mon" < "Tue").
LAST_MODIFIED = "Tue, 03 Nov 2026 10:00:00 GMT"
NEXT_MONDAY = "Mon, 09 Nov 2026 10:00:00 GMT"
WALL_CLOCK = 1_800_000_000.0  # 2027: the Last-Modified above is in the past


@dataclass(frozen=True)
class HttpParams:
    """The origin app's paths; nothing to tune."""

    item: str = "/item"
    dated: str = "/dated"
    private: str = "/private"


Response = tuple[int, dict[str, str], bytes]


async def _origin(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A tiny ASGI app: a plain item, a dated page, and a per-user private page."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    path = scope["path"]
    fields = [("cache-control", "max-age=60"), ("content-type", "text/plain")]
    if path == "/dated":
        body = b"dated"
        fields.append(("last-modified", LAST_MODIFIED))
    elif path == "/private":
        body = f"hello {headers.get('x-user', 'anonymous')}".encode()
        fields[0] = ("cache-control", "private, max-age=60")
    else:
        body = b"first"
    fields.append(("content-length", str(len(body))))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in fields]})  # fmt: skip
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _call(app: Any, path: str, headers: dict[str, str] | None = None) -> Response:
    """One GET through the middleware, as an ASGI server would send it."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver"), *raw],
        "server": ("testserver", 80), "client": ("127.0.0.1", 50000),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    fields = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), fields, body


_ETAG = r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"'


async def _http_checks(app: Any, params: HttpParams) -> list[Finding]:
    import re

    found: list[Finding] = []

    def need(ok: bool, prop: str, message: str) -> None:
        if not ok:
            found.append(scenario_finding(prop, message, checker="http"))

    status, fields, _ = await _call(app, params.item)
    etag = fields.get("etag", "")
    need(
        re.fullmatch(_ETAG, etag) is not None,
        "etag_syntax",
        f"ETag {etag!r} is not an entity-tag (RFC 9110 §8.8.3: a quoted string).",
    )
    status, _, body = await _call(app, params.item, {"if-none-match": f'"x", {etag}'})
    need(
        status == 304 and body == b"",
        "bare_304",
        f"A matching If-None-Match got {status} with {len(body)} body bytes; expected a 304 "
        "without a body (RFC 9110 §15.4.5).",
    )
    status, _, _ = await _call(app, params.item, {"if-match": f"W/{etag.removeprefix('W/')}"})
    need(
        status == 412,
        "if_match_strong",
        f"If-Match with a weak tag got {status}; If-Match compares strongly, so 412.",
    )
    status, _, _ = await _call(app, params.dated, {"if-modified-since": NEXT_MONDAY})
    need(
        status == 304,
        "if_modified_since_date",
        f"If-Modified-Since {NEXT_MONDAY} (after Last-Modified {LAST_MODIFIED}) got {status}; "
        "dates compare as times, not strings: 304.",
    )
    await _call(app, params.private, {"x-user": "alice"})
    _, _, body = await _call(app, params.private, {"x-user": "bob"})
    need(
        body == b"hello bob",
        "private_not_shared",
        f"bob was served {body!r}: a shared cache must not store a private response.",
    )
    return found


def run_http_conformance(
    world: World,
    factory: Callable[[World], Callable[..., Any]],
    contract: Contract,
    *,
    params: HttpParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Validators and storage rules of an HTTP caching middleware: quoted strong ETags, bare
    304s, strong If-Match, If-Modified-Since compared as dates, private responses not shared.
    `factory(world)` returns a middleware factory: `factory(world)(app, wall_clock=...)`."""
    params = params or HttpParams()
    started = time.monotonic()
    world.reset()
    app = factory(world)(_origin, wall_clock=lambda: WALL_CLOCK)
    findings = _run_async(_http_checks(app, params))
    return _finish(
        "http_conformance",
        type(app).__name__,
        params,
        world,
        {"checks": 5, "failed": len(findings)},
        findings=findings,
        seed=seed,
        started=started,
        description="Five RFC 9110/9111 checks through the middleware over a tiny ASGI app.",
    )


def _run_async(coroutine: Awaitable[list[Finding]]) -> list[Finding]:
    async def main() -> list[Finding]:
        return await coroutine

    return asyncio.run(main())
