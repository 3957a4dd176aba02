"""The concurrent runner: many clients at once, for a bounded time, with a fault schedule.

Where the stateful model serializes clients to replay races exactly, the runner lets real
threads collide, as production traffic does. Every operation is drawn from a seeded generator
per client, so a run is repeatable in what it asks (though not in how threads interleave); the
history is checked afterwards against the contract.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachecheck._contract import Contract
from cachecheck._history import OpKind
from cachecheck._model import FAULT_ERRORS, SubjectFactory, _as_cache_contents
from cachecheck._subject import Closeable, Drainable, capabilities
from cachecheck._world import World
from cachecheck.checkers import CheckResult, check_history

FaultAction = Callable[[World], None]


@dataclass(frozen=True)
class ScheduledFault:
    """Apply `action` `at` seconds after the clients start; `name` goes into the history."""

    at: float
    name: str
    action: FaultAction


@dataclass(frozen=True)
class RunnerConfig:
    clients: int = 4
    #: Wall-clock bound of the client phase, in seconds.
    duration: float = 2.0
    #: Per-client bound on operations (whichever bound comes first ends the client).
    max_ops_per_client: int = 1_000
    keys: tuple[str, ...] = ("k0", "k1", "k2")
    read_weight: int = 6
    write_weight: int = 3
    delete_weight: int = 1
    seed: int = 0
    #: One subject per client (separate application nodes) or one shared by all.
    shared_subject: bool = False
    faults: tuple[ScheduledFault, ...] = ()
    #: Called after the clients stop and before the final reads: heal what faults broke.
    heal: FaultAction | None = None
    drain_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError(f"RunnerConfig.clients must be >= 1, got {self.clients}")
        if self.duration <= 0:
            raise ValueError(f"RunnerConfig.duration must be > 0, got {self.duration}")
        if min(self.read_weight, self.write_weight, self.delete_weight) < 0:
            raise ValueError("RunnerConfig weights must be >= 0")


@dataclass
class RunOutcome:
    """What a concurrent run did and what the checkers found."""

    subject: str
    ops: int
    seconds: float
    results: list[CheckResult]
    faults_applied: list[str] = field(default_factory=list)
    client_errors: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def properties_violated(self) -> set[str]:
        return {f.property for r in self.results for f in r.findings}

    def measurements(self) -> dict[str, dict[str, Any]]:
        return {r.checker: r.measurements for r in self.results}


def run_concurrent(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    config: RunnerConfig | None = None,
) -> RunOutcome:
    """Run `config.clients` threads against subjects built by `factory`, then check."""
    cfg = config or RunnerConfig()
    world.reset()
    subjects = _subjects(world, factory, cfg)
    stop = threading.Event()
    errors: dict[str, int] = {}
    lock = threading.Lock()
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(world, subjects[i % len(subjects)], f"c{i}", cfg, stop, errors, lock),
            name=f"cachecheck-client-{i}",
            daemon=True,
        )
        for i in range(cfg.clients)
    ]
    for thread in threads:
        thread.start()
    applied = _apply_faults(world, cfg, started, stop)
    stop.set()
    for thread in threads:
        thread.join(cfg.duration + 30)
    elapsed = time.monotonic() - started
    try:
        results = _final_check(world, subjects[0], contract, cfg)
    finally:
        for subject in subjects:
            if isinstance(subject, Closeable):
                subject.close()
    return RunOutcome(contract.name, len(world.history), elapsed, results, applied, errors)


def _subjects(world: World, factory: SubjectFactory, cfg: RunnerConfig) -> list[Any]:
    count = 1 if cfg.shared_subject else cfg.clients
    return [factory(world) for _ in range(count)]


def _client_loop(
    world: World,
    subject: Any,
    client: str,
    cfg: RunnerConfig,
    stop: threading.Event,
    errors: dict[str, int],
    lock: threading.Lock,
) -> None:
    rng = random.Random(f"{cfg.seed}:{client}")
    kinds = _weighted_kinds(cfg, "delete" in capabilities(subject))
    history = world.history
    for n in range(cfg.max_ops_per_client):
        if stop.is_set():
            return
        kind = rng.choice(kinds)
        key = rng.choice(cfg.keys)
        try:
            if kind is OpKind.READ:
                with history.record(client, kind, key) as pending:
                    pending.ok(subject.get(key))
            elif kind is OpKind.WRITE:
                with history.record(client, kind, key, f"{key}#{client}.{n}"):
                    subject.set(key, f"{key}#{client}.{n}")
            else:
                with history.record(client, kind, key):
                    subject.delete(key)
        except FAULT_ERRORS as exc:
            with lock:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1


def _weighted_kinds(cfg: RunnerConfig, can_delete: bool) -> list[OpKind]:
    kinds = [OpKind.READ] * cfg.read_weight + [OpKind.WRITE] * cfg.write_weight
    if can_delete:
        kinds += [OpKind.DELETE] * cfg.delete_weight
    if not kinds:
        raise ValueError("RunnerConfig weights leave no operation to run")
    return kinds


def _apply_faults(
    world: World, cfg: RunnerConfig, started: float, stop: threading.Event
) -> list[str]:
    applied = []
    for fault in sorted(cfg.faults, key=lambda f: f.at):
        delay = started + fault.at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        world.history.note(fault.name)
        fault.action(world)
        applied.append(fault.name)
    remaining = started + cfg.duration - time.monotonic()
    if remaining > 0:
        stop.wait(remaining)
    return applied


def _final_check(
    world: World, subject: Any, contract: Contract, cfg: RunnerConfig
) -> list[CheckResult]:
    if cfg.heal is not None:
        cfg.heal(world)
        world.history.note("healed")
    if isinstance(subject, Drainable):
        subject.drain(cfg.drain_timeout)
    served: dict[str, str | None] = {}
    for key in cfg.keys:
        try:
            with world.history.record("final", OpKind.READ, key) as pending:
                served[key] = subject.get(key)
                pending.ok(served[key])
        except FAULT_ERRORS:
            continue
    final_db = world.database.snapshot()
    return check_history(
        world.history.ops,
        world.database.commits(),
        world.history.events,
        contract,
        final_cache=_as_cache_contents(dict(served), final_db),
        final_db=final_db,
        loads=world.database.loads(),
    )


def schedule(*faults: tuple[float, str, FaultAction]) -> tuple[ScheduledFault, ...]:
    """Shorthand: `schedule((0.5, "redis_crash", crash), (1.0, "heal", heal))`."""
    return tuple(ScheduledFault(at, name, action) for at, name, action in faults)
