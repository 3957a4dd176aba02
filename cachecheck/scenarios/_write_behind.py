"""Write-behind durability: crash Redis (or the flush worker) under steady writes, then count
what survived.

Two experiments share the driver. `run_write_behind_loss` SIGKILLs the Redis server at a
seeded moment, restarts it and lets the workers drain; the loss window is judged against the
contract (AOF modes) or, when the contract promises no window, against the flush interval.
`run_write_behind_worker_crash` crashes one node's flush worker mid-batch instead: nothing
acknowledged may be lost, and no older value may be applied over a newer one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cachecheck._contract import Contract, Durability
from cachecheck._history import Commit, Op, OpKind
from cachecheck._model import SubjectFactory, _as_cache_contents
from cachecheck._subject import Drainable, HasWorker
from cachecheck._world import World
from cachecheck.checkers import CheckResult, Finding, check_convergence, check_durability
from cachecheck.scenarios import _figures as fig
from cachecheck.scenarios._common import (
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
    "WorkerCrashParams",
    "WriteBehindLossParams",
    "is_register",
    "judged_ops",
    "run_write_behind_loss",
    "run_write_behind_worker_crash",
]


@dataclass(frozen=True)
class WriteBehindLossParams:
    """Steady writers; Redis SIGKILLed at a seeded moment in `crash_window` (fractions of
    `duration`) and restarted `down_for` seconds later.

    Writers alternate two kinds of writes. Every other write goes to a fresh key (a Jepsen
    set-full element): nothing can overwrite it, so if it never reaches the database it was
    lost. The others rewrite one of `registers` keys per writer: the worker may coalesce
    those (only the newest queued write of a key is committed), so their loss is not judged,
    but their order is (no older value committed over a newer one). Without a contract loss
    window, the scenario's own bound is the subject's `flush_interval` plus `flush_slack`
    (scheduling noise on a busy machine).
    """

    nodes: int = 2
    writers: int = 3
    registers: int = 2
    write_interval: float = 0.01
    duration: float = 2.0
    crash_window: tuple[float, float] = (0.35, 0.65)
    down_for: float = 0.2
    drain_timeout: float = 20.0
    flush_slack: float = 1.0
    final_sample: int = 40


@dataclass(frozen=True)
class WorkerCrashParams:
    """Steady writers; node 0's flush worker crashes at a seeded moment (mid-batch when the
    subject has a `before_apply` hook: right before it commits a set element of a batch that
    also holds a register, waiting at most `arm_timeout` s for one) and restarts
    `down_for` seconds later (below the strategy's claim-idle time, so it reclaims its own
    pending entries). Writes alternate fresh keys and registers as in
    `WriteBehindLossParams`."""

    nodes: int = 2
    writers: int = 3
    registers: int = 2
    write_interval: float = 0.01
    duration: float = 1.6
    crash_window: tuple[float, float] = (0.2, 0.4)
    down_for: float = 0.5
    arm_timeout: float = 2.0
    drain_timeout: float = 20.0
    final_sample: int = 40


@dataclass
class _Run:
    """What the driver hands to the judge: the world's records plus the crash times."""

    nodes: list[Any]
    t0: float
    crash_at: float | None = None
    restart_at: float | None = None
    mid_batch: bool | None = None
    drained: bool = False
    seconds: float = 0.0


# -- the driver ----------------------------------------------------------------------------


def _register(writer: int, index: int) -> str:
    return f"w{writer}.r{index}"


def is_register(key: str) -> bool:
    """Whether a key of these scenarios is a register (rewritten) rather than a set element."""
    return ".r" in key


def _drive(
    world: World,
    nodes: list[Any],
    name: str,
    seed: int,
    params: WriteBehindLossParams | WorkerCrashParams,
    fault: Callable[[_Run, threading.Event], None],
) -> _Run:
    """Writers for `params.duration` s while `fault` runs in this thread; then drain and read
    every register and a seeded sample of set elements once through node 0."""
    run = _Run(nodes, world.clock.now())
    with ThreadGroup() as group:
        for w in range(params.writers):
            group.loop(f"{name}-writer-{w}", _writer_step(world, nodes, w, seed, name, params),
                       params.write_interval)  # fmt: skip
        fault(run, group.stop)
        group.stop.wait(max(0.0, run.t0 + params.duration - world.clock.now()))
        group.stop.set()
    run.drained = all(
        n.drain(params.drain_timeout) for n in nodes if isinstance(n, Drainable)
    )  # fmt: skip
    written = sorted({op.key for op in world.history.ops if op.kind is OpKind.WRITE})
    elements = [k for k in written if not is_register(k)]
    rng = scenario_rng(f"{name}.final", seed)
    sample = rng.sample(elements, min(len(elements), params.final_sample))
    for key in [k for k in written if is_register(k)] + sorted(sample):
        recorded_read(world, "final", nodes[0], key)
    return run


def _writer_step(
    world: World,
    nodes: list[Any],
    writer: int,
    seed: int,
    name: str,
    params: WriteBehindLossParams | WorkerCrashParams,
) -> Callable[[int], object]:
    rng = scenario_rng(f"{name}.writer{writer}", seed)
    node = nodes[writer % len(nodes)]

    def step(n: int) -> bool:
        key = _register(writer, rng.randrange(params.registers)) if n % 2 else f"w{writer}.s{n}"
        return recorded_write(world, f"w{writer}", node, key, f"{key}#{n}")

    return step


# -- Redis crash ------------------------------------------------------------------------------


def run_write_behind_loss(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: WriteBehindLossParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Crash Redis under steady write-behind writes; report total / acknowledged / survived /
    lost writes and the loss window, judged against the persistence mode.

    `world` must run on a server cachecheck started (it is killed and restarted); its
    persistence (`cachecheck_redis_factory(persistence=...)`) decides what survives.
    """
    params = params or WriteBehindLossParams()
    started = time.monotonic()
    rng = scenario_rng("write_behind_loss", seed)
    crash_at = params.duration * rng.uniform(*params.crash_window)
    server = world.server
    world.reset()
    with Subjects(world, factory) as subjects:
        nodes = subjects.make(params.nodes)

        def crash(run: _Run, stop: threading.Event) -> None:
            if stop.wait(max(0.0, run.t0 + crash_at - world.clock.now())):
                return
            server.kill()  # noted after the kill: every ack before this instant is at risk
            run.crash_at = world.history.note("redis_crash", persistence=_persistence(world)).at
            time.sleep(params.down_for)
            server.restart()
            run.restart_at = world.history.note("redis_restart").at

        try:
            run = _drive(world, nodes, "write_behind_loss", seed, params, crash)
        finally:
            if not server.running:
                server.restart()
        run.seconds = time.monotonic() - started
        return _judge_loss(
            world, contract, params, run, seed, subject_name(nodes[0], contract.name)
        )


def _persistence(world: World) -> str:
    options = getattr(world.redis_server, "options", None)
    return str(getattr(options, "persistence", "unknown"))


def _judge_loss(
    world: World,
    contract: Contract,
    params: WriteBehindLossParams,
    run: _Run,
    seed: int,
    subject: str,
) -> ScenarioResult:
    ops, commits = world.history.ops, world.database.commits()
    kept, unjudged = judged_ops(ops, commits)
    durability = check_durability(kept, commits, world.history.events, contract)
    checks = [durability, _convergence(world, contract, ops, commits)]
    m = durability.measurements
    bound, source = _loss_bound(contract, run.nodes[0], params)
    findings = [] if contract.loss_window is not None else _flush_bound(m, bound)
    lost = _lost_writes(kept, commits)
    measurements = {
        "persistence": _persistence(world),
        "crash_at_s": _rel(run.crash_at, run.t0),
        "restart_at_s": _rel(run.restart_at, run.t0),
        **_durability_counts(m, unjudged),
        "loss_window_s": round(m["max_loss_window_s"] or 0.0, 4),
        "loss_window_bound_s": bound,
        "bound_from": source,
        "drained": run.drained,
        "writes_per_s": round(sum(op.kind is OpKind.WRITE for op in ops) / params.duration, 1),
    }
    return build_result(
        "write_behind_loss", subject, checks=checks, findings=findings,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=_loss_figures(world, run, ops, lost, bound, m),
        seed=seed, seconds=run.seconds,
        description="Redis SIGKILLed under steady write-behind writes, restarted, drained; "
        "loss window judged against the persistence mode.",
    )  # fmt: skip


def _loss_bound(contract: Contract, node: Any, params: WriteBehindLossParams) -> tuple[float, str]:
    if contract.loss_window is not None:
        return contract.loss_window, "contract loss_window"
    flush = float(getattr(node, "flush_interval", 0.0))
    return flush + params.flush_slack, f"flush_interval ({flush:g} s) + slack"


def _flush_bound(m: dict[str, Any], bound: float) -> list[Finding]:
    """Without a contract window, lost writes must be confined to the last flush interval."""
    found = []
    window = m["max_loss_window_s"]
    if window is not None and window > bound:
        found.append(scenario_finding(
            "loss_window", f"Acknowledged writes were lost {window * 1e3:.0f} ms before the "
            f"crash; the worker flushes every interval, so only writes acknowledged within "
            f"{bound * 1e3:.0f} ms of a crash may be lost.", checker="durability",
            window_s=window, bound_s=bound))  # fmt: skip
    if m["lost_without_crash"]:
        found.append(scenario_finding(
            "no_lost_writes", f"{m['lost_without_crash']} acknowledged writes were lost with "
            "no Redis crash after them.", checker="durability",
            lost=m["lost_without_crash"]))  # fmt: skip
    return found


# -- worker crash -----------------------------------------------------------------------------


def run_write_behind_worker_crash(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    *,
    params: WorkerCrashParams | None = None,
    seed: int = 0,
) -> ScenarioResult:
    """Crash node 0's flush worker under steady writes and restart it: zero acknowledged
    writes lost (its pending entries are reclaimed), no older value applied over a newer one.
    The subject must offer the `worker` capability (`HasWorker`)."""
    params = params or WorkerCrashParams()
    started = time.monotonic()
    rng = scenario_rng("write_behind_worker_crash", seed)
    crash_at = params.duration * rng.uniform(*params.crash_window)
    world.reset()
    with Subjects(world, factory) as subjects:
        nodes = subjects.make(params.nodes)
        if not isinstance(nodes[0], HasWorker):
            raise TypeError(f"{type(nodes[0]).__name__} has no worker to crash")

        def crash(run: _Run, stop: threading.Event) -> None:
            if stop.wait(max(0.0, run.t0 + crash_at - world.clock.now())):
                return
            run.crash_at, run.mid_batch = _crash_worker(world, nodes[0], params.arm_timeout)
            time.sleep(params.down_for)
            nodes[0].worker.start()
            run.restart_at = world.history.note("worker_restart").at

        run = _drive(world, nodes, "write_behind_worker_crash", seed, params, crash)
        run.seconds = time.monotonic() - started
        return _judge_worker(world, contract, params, run, seed,
                             subject_name(nodes[0], contract.name))  # fmt: skip


class _CrashPoint:
    """Crashes a node's worker right before it commits a set element, in a batch in which it
    already met a register: the batch it dies holding then has both kinds, so a lost commit
    shows (a set element) and a replayed one can go back in time (a register).

    Batches are told apart by the worker's XREADGROUP, seen at `world.io`; the crash itself
    happens in the subject's `before_apply` hook, in the worker thread.
    """

    def __init__(self, world: World, node: Any) -> None:
        self._world = world
        self._node = node
        self._met_register: dict[str, bool] = {}
        self.fired = threading.Event()
        self.at = 0.0

    def io(self, component: str, operation: str) -> None:
        if component == "redis" and operation.upper() == "XREADGROUP":
            self._met_register[threading.current_thread().name] = False

    def before_apply(self, write: Any) -> None:
        thread = threading.current_thread().name
        if is_register(str(write.key)):
            self._met_register[thread] = True
        elif self._met_register.get(thread) and not self.fired.is_set():
            self._node.worker.crash()
            self.at = self._world.history.note("worker_crash", mid_batch=True).at
            self.fired.set()


def _crash_worker(world: World, node: Any, arm_timeout: float) -> tuple[float, bool]:
    """Crash the worker mid-batch (see `_CrashPoint`) if the subject has a `before_apply`
    hook and such a batch comes within `arm_timeout` s, else at once. Returns (crash time,
    whether it was mid-batch)."""
    point = _CrashPoint(world, node)
    if hasattr(node, "before_apply"):
        world.io.hook = point.io
        node.before_apply = point.before_apply
        try:
            point.fired.wait(arm_timeout)
        finally:
            node.before_apply = None
            world.io.hook = None
    if point.fired.is_set():
        return point.at, True
    node.worker.crash()
    return world.history.note("worker_crash", mid_batch=False).at, False


def _judge_worker(
    world: World,
    contract: Contract,
    params: WorkerCrashParams,
    run: _Run,
    seed: int,
    subject: str,
) -> ScenarioResult:
    ops, commits = world.history.ops, world.database.commits()
    kept, unjudged = judged_ops(ops, commits)
    # A worker crash loses nothing: any lost acknowledged write is a finding (window 0, and
    # only a Redis crash could excuse a loss).
    strict = (
        contract.evolve(loss_window=0.0) if contract.durability is Durability.ASYNC else contract
    )
    durability = check_durability(kept, commits, world.history.events, strict,
                                  crash_events=("redis_crash",))  # fmt: skip
    checks = [durability, _convergence(world, contract, ops, commits)]
    m = durability.measurements
    measurements = {
        "crash_at_s": _rel(run.crash_at, run.t0),
        "restart_at_s": _rel(run.restart_at, run.t0),
        "crashed_mid_batch": run.mid_batch,
        **_durability_counts(m, unjudged),
        "regressions": m["regressions"],
        "drained": run.drained,
    }
    lost = _lost_writes(kept, commits)
    return build_result(
        "write_behind_worker_crash", subject, checks=checks,
        parameters={**describe_params(params), "world": world.describe()},
        measurements=measurements,
        figures=_loss_figures(world, run, ops, lost, 0.0, m),
        seed=seed, seconds=run.seconds,
        description="One node's flush worker crashed mid-batch under steady writes and "
        "restarted: nothing acknowledged may be lost, nothing older applied over newer.",
    )  # fmt: skip


# -- shared judging ---------------------------------------------------------------------------


def judged_ops(ops: Sequence[Op], commits: Sequence[Commit]) -> tuple[list[Op], int]:
    """The ops durability is judged on, and how many register writes were left out.

    A write-behind worker commits only the newest queued write of a key, so an older write of
    a register may never reach the commit log although nothing was lost; and a register write
    lost in a crash can be hidden by a later one. So uncommitted register writes are not
    judged (their committed ones are: ordering). Set elements (fresh keys) always are.
    """
    committed = {(c.key, c.value) for c in commits if c.value is not None}
    kept = [
        op for op in ops
        if not (op.kind is OpKind.WRITE and is_register(op.key)
                and (op.key, op.value) not in committed)
    ]  # fmt: skip
    return kept, len(ops) - len(kept)


def _lost_writes(ops: Sequence[Op], commits: Sequence[Commit]) -> list[Op]:
    committed = {(c.key, c.value) for c in commits if c.value is not None}
    return [
        op for op in ops
        if op.kind is OpKind.WRITE and op.ok and (op.key, op.value) not in committed
    ]  # fmt: skip


def _convergence(
    world: World, contract: Contract, ops: Sequence[Op], commits: Sequence[Commit]
) -> CheckResult:
    served: dict[str, Any] = {
        op.key: op.value for op in ops if op.client == "final" and op.kind is OpKind.READ and op.ok
    }
    final_db = world.database.snapshot()
    return check_convergence(_as_cache_contents(served, final_db), final_db, contract,
                             ops=ops, commits=commits)  # fmt: skip


def _durability_counts(m: dict[str, Any], unjudged: int) -> dict[str, Any]:
    return {
        "total": m["total"],
        "acknowledged": m["acknowledged"],
        "survived": m["survived"],
        "lost": m["lost"],
        "indeterminate": m["indeterminate"],
        "loss_rate": round(m["loss_rate"], 5),
        "register_writes_not_judged": unjudged,
    }


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 4)


def _loss_figures(
    world: World, run: _Run, ops: Sequence[Op], lost: list[Op], bound: float, m: dict[str, Any]
) -> list[dict[str, Any] | None]:
    acked = [op.completed_at - run.t0 for op in ops
             if op.kind is OpKind.WRITE and op.ok and op.completed_at is not None]  # fmt: skip
    end = max(acked, default=0.0)
    markers = [(e.at - run.t0, e.name) for e in world.history.events]
    crash = run.crash_at
    ages = [(crash - (op.completed_at or op.invoked_at)) * 1e3 for op in lost] if crash else []
    return [
        fig.series("Acknowledged writes per 100 ms", "time (s)", "writes",
                   fig.per_window(acked, start=0.0, end=end, width=0.1), markers=markers,
                   note=f"{len(acked)} acknowledged writes; markers: crash and restart"),
        fig.histogram("Lost writes: acknowledged how long before the crash", "ms before crash",
                      ages, y_label="writes", bound=bound * 1e3,
                      note=f"{len(lost)} lost; bound {bound * 1e3:.0f} ms"),
        fig.bars("Writes by outcome", "writes",
                 [("acknowledged", m["acknowledged"]), ("survived", m["survived"]),
                  ("lost", m["lost"]), ("indeterminate", m["indeterminate"])]),
    ]  # fmt: skip
