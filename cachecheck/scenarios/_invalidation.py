"""Lost invalidations: event-driven invalidation while the subscriber's link is broken, and an
acknowledged DEL lost in Redis's persistence window ("stale after restart").

`run_invalidation_loss` runs two nodes: A (the reader) goes through the fault proxy, B (the
writer) bypasses it, so the fault breaks only A's links (its data connection and its
invalidation feed) while B commits writes and announces their invalidations. Reads of A are
recorded throughout; staleness is reported, convergence is judged after the heal and
`drain()`. `run_stale_after_restart` writes through the cache (database, then DEL), SIGKILLs
Redis before that DEL is persisted and restarts it: a server that reloads the old entry
serves stale data, and the checkers must say so.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cachecheck._config import Persistence
from cachecheck._contract import Contract
from cachecheck._history import Op, OpKind
from cachecheck._model import SubjectFactory, _as_cache_contents
from cachecheck._subject import Drainable
from cachecheck._world import World
from cachecheck.chaos import ResetPeer, partition
from cachecheck.checkers import (
    CheckResult,
    check_convergence,
    check_no_phantom_reads,
    check_read_your_writes,
    check_staleness,
)
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
    Subjects,
    ThreadGroup,
    describe_params,
    direct_world,
    recorded_read,
    recorded_write,
    scenario_rng,
    subject_name,
)
from cachecheck.scenarios._result import ScenarioResult, build_result

__all__ = [
    "InvalidationParams",
    "StaleAfterRestartParams",
    "run_invalidation_loss",
    "run_stale_after_restart",
]


@dataclass(frozen=True)
class InvalidationParams:
    """A reads `keys` every `read_interval` s. `fault_after` s after the fill, A's links are
    broken (`fault`: "partition" drops data both ways, "reset" resets connections on their
    first data; None: a seeded choice) for `fault_for` s; `write_at` s into the fault, B
    writes every key. After the heal both nodes drain (at most `drain_timeout` s)."""

    keys: tuple[str, ...] = ("k0", "k1", "k2")
    read_interval: float = 0.01
    fault: str | None = None
    fault_after: float = 0.2
    fault_for: float = 0.8
    write_at: float = 0.2
    drain_timeout: float = 10.0


@dataclass
class _Timeline:
    t0: float
    fault: float = 0.0
    writes: float = 0.0
    healed: float = 0.0
    drained: bool = False


def run_invalidation_loss(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: InvalidationParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Break the reader node's links while another node writes: report staleness, and judge
    convergence once the link healed and the nodes drained."""
    params = params or InvalidationParams()
    if world.proxy is None:
        raise ValueError("run_invalidation_loss needs a world with the fault proxy")
    fault = params.fault or str(scenario_rng("invalidation", seed).choice(("partition", "reset")))
    started = time.monotonic()
    world.reset()
    with direct_world(world) as direct, Subjects(world, factory) as here, \
            Subjects(direct, factory) as there:  # fmt: skip
        a, b = here.one(), there.one()
        _prepare(world, a, b, params)
        tl = _play(world, a, b, params, fault)
        for key in params.keys:
            recorded_read(world, "final", a, key)
        name = subject_name(a, contract.name)
    return _judge_loss(world, contract, params, fault, tl, seed, time.monotonic() - started, name)


def _prepare(world: World, a: Any, b: Any, params: InvalidationParams) -> None:
    """Every key committed by B, cached by A (read twice: Redis, then A's own copy)."""
    for key in params.keys:
        recorded_write(world, "B", b, key, f"{key}#v1")
    _drain(a, b, params.drain_timeout)
    for key in params.keys:
        recorded_read(world, "A", a, key)
        recorded_read(world, "A", a, key)


def _drain(a: Any, b: Any, timeout: float) -> bool:
    return all(n.drain(timeout) for n in (a, b) if isinstance(n, Drainable))


@contextlib.contextmanager
def _broken(world: World, fault: str) -> Iterator[None]:
    faults = partition() if fault == "partition" else (ResetPeer(),)
    with world.proxy.fault(*faults, history=world.history):
        yield


def _play(world: World, a: Any, b: Any, params: InvalidationParams, fault: str) -> _Timeline:
    tl = _Timeline(world.clock.now())
    with ThreadGroup() as group:
        group.loop(
            "invalidation-reader",
            lambda n: recorded_read(world, "A", a, params.keys[n % len(params.keys)]),
            params.read_interval,
        )
        time.sleep(params.fault_after)
        with _broken(world, fault):
            tl.fault = world.clock.now()
            time.sleep(params.write_at)
            tl.writes = world.clock.now()
            for key in params.keys:
                recorded_write(world, "B", b, key, f"{key}#v2")
            time.sleep(max(0.0, tl.fault + params.fault_for - world.clock.now()))
        tl.healed = world.history.note("healed").at
        tl.drained = _drain(a, b, params.drain_timeout)
    return tl


def _judge_loss(
    world: World,
    contract: Contract,
    params: InvalidationParams,
    fault: str,
    tl: _Timeline,
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    ops, commits = world.history.ops, world.database.commits()
    staleness = check_staleness(ops, commits, contract)
    checks: list[CheckResult] = [
        staleness,
        check_no_phantom_reads(ops, commits, contract),
        _convergence(world, contract, ops, commits),
    ]
    m = staleness.measurements
    reads = [op for op in ops if op.kind is OpKind.READ and op.client == "A"]
    stale = [op for op in reads if op.ok and op.invoked_at >= tl.writes and _stale(op, commits)]
    measurements = {
        "fault": fault,
        "reads": len(reads),
        "failed_reads": sum(not op.ok for op in reads),
        "stale_reads": len(stale),
        "last_stale_read_s": round(max((op.invoked_at for op in stale), default=tl.t0) - tl.t0, 3),
        "max_staleness_ms": _ms(m["max_staleness_s"]),
        "p99_staleness_ms": _ms(m["p99_staleness_s"]),
        "staleness_bound_ms": _ms(contract.staleness_bound),
        "nines_consistent": m["nines_consistent"],
        "drained": tl.drained,
    }
    markers = [(tl.fault - tl.t0, f"{fault} starts"), (tl.writes - tl.t0, "B writes"),
               (tl.healed - tl.t0, "healed")]  # fmt: skip
    return build_result(
        "invalidation_loss", subject, checks=checks,
        parameters={**describe_params(params), "fault": fault, "world": world.describe()},
        measurements=measurements,
        figures=[
            fig.histogram("Staleness of reads", "ms",
                          [s * 1e3 for s in m["staleness_samples_s"]], y_label="reads",
                          bound=_ms(contract.staleness_bound)),
            fig.series("Stale reads on the cut-off node (1 = stale)", "time (s)", "stale",
                       [(op.invoked_at - tl.t0, float(op in stale)) for op in reads if op.ok],
                       markers=markers),
        ],
        seed=seed, seconds=seconds,
        description=f"The reader node's links {fault} while another node writes and "
        "announces invalidations; staleness measured, convergence judged after the heal.",
    )  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


def _stale(op: Op, commits: Sequence[Any]) -> bool:
    latest = [c for c in commits if c.key == op.key and c.committed_at <= op.invoked_at]
    return bool(latest) and op.value != latest[-1].value


def _convergence(
    world: World, contract: Contract, ops: Sequence[Op], commits: Sequence[Any]
) -> CheckResult:
    served = {op.key: op.value for op in ops if op.client == "final" and op.ok}
    final_db = world.database.snapshot()
    return check_convergence(_as_cache_contents(dict(served), final_db), final_db, contract,
                             ops=ops, commits=commits)  # fmt: skip


# -- stale after a Redis restart ----------------------------------------------------------------


@dataclass(frozen=True)
class StaleAfterRestartParams:
    """Each key is written (v1) and cached; the cached entries are made durable (an RDB
    snapshot on an RDB server; AOF and no persistence need nothing); every key is written
    again (v2: database commit, then the DEL, acknowledged); Redis is SIGKILLed at once and
    restarted `down_for` s later; every key is read back."""

    keys: tuple[str, ...] = ("k0", "k1", "k2")
    down_for: float = 0.1


def run_stale_after_restart(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: StaleAfterRestartParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """An acknowledged DEL lost in the persistence window resurrects a stale entry: detected
    as a convergence (and read-your-writes, staleness) finding. `world` must run on a server
    cachecheck started; its persistence decides the outcome (RDB loses the DEL; AOF with
    fsync always keeps it; no persistence loses the entry too)."""
    params = params or StaleAfterRestartParams()
    started = time.monotonic()
    server = world.server
    world.reset()
    with Subjects(world, factory) as subjects:
        subject = subjects.one()
        for key in params.keys:
            recorded_write(world, "c", subject, key, f"{key}#v1")
            recorded_read(world, "c", subject, key)
        _persist(world)
        for key in params.keys:
            recorded_write(world, "c", subject, key, f"{key}#v2")
        unsaved = _unsaved_changes(world)
        try:
            server.kill()
            world.history.note("redis_crash", persistence=str(server.options.persistence))
            time.sleep(params.down_for)
        finally:
            server.restart()
        world.history.note("redis_restart")
        for key in params.keys:
            recorded_read(world, "final", subject, key)
        name = subject_name(subject, contract.name)
    return _judge_restart(world, contract, params, unsaved, seed, time.monotonic() - started, name)


def _persist(world: World) -> None:
    """Make what Redis holds now durable, as a periodic snapshot would: SAVE on an RDB server
    (the next automatic snapshot then waits at least a second, far longer than the DEL and
    the kill take)."""
    if world.server.options.persistence.mode is Persistence.RDB:
        world.admin_client().save()


def _unsaved_changes(world: World) -> int | None:
    """Changes since the last RDB snapshot (None on a server that does not snapshot)."""
    if world.server.options.persistence.mode is not Persistence.RDB:
        return None
    info = world.admin_client().info("persistence")
    value = info.get("rdb_changes_since_last_save")
    return None if value is None else int(value)


def _judge_restart(
    world: World,
    contract: Contract,
    params: StaleAfterRestartParams,
    unsaved: int | None,
    seed: int,
    seconds: float,
    subject: str,
) -> ScenarioResult:
    ops, commits = world.history.ops, world.database.commits()
    checks = [
        _convergence(world, contract, ops, commits),
        check_read_your_writes(_as_client(ops, "final", "c"), commits, contract),
        check_staleness(ops, commits, contract),
    ]
    finals = [op for op in ops if op.client == "final"]
    truth = world.database.snapshot()
    resurrected = [op.key for op in finals if op.ok and op.value != truth.get(op.key)]
    persistence = str(world.server.options.persistence)
    measurements = {
        "persistence": persistence,
        "keys": len(params.keys),
        "resurrected_keys": len(resurrected),
        "unsaved_changes_at_crash": unsaved,
        "failed_reads_after_restart": sum(not op.ok for op in finals),
    }
    return build_result(
        "stale_after_restart", subject, checks=checks,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=[fig.bars("Keys after the restart", "keys",
                          [("fresh", len(finals) - len(resurrected)),
                           ("resurrected stale", len(resurrected))],
                          note=f"persistence {persistence}")],
        seed=seed, seconds=seconds,
        description="Write through the cache (database, then an acknowledged DEL), SIGKILL "
        "Redis before the DEL is persisted, restart: a reloaded entry is stale.",
    )  # fmt: skip


def _as_client(ops: Sequence[Op], old: str, new: str) -> list[Op]:
    """The final reads are the writer's own reads: relabel them for read-your-writes."""
    return [replace(op, client=new) if op.client == old else op for op in ops]
