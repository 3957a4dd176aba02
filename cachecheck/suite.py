"""Plug in your own cache: the checks every subject inherits, and `CacheSuite` for pytest.

A *check* is one way of exercising a subject against its contract: the stateful model, the
concurrent runner, draining async work, the model with one kind of crash or network fault.
A check that needs something the subject (or the world) does not offer is skipped with a
reason: no `drain()` means no async checks, no `.worker` means no worker crashes, an external
Redis means no Redis crashes. The same checks run under `cachecheck run` and under pytest:

```python
from cachecheck import Contract, TtlPolicy
from cachecheck.suite import CacheSuite


class TestProductCache(CacheSuite):
    contract = Contract(name="products", converges=True, ttl=TtlPolicy(max_seconds=300))

    def make_subject(self, world):
        return ProductCache(world.client(), world.database, prefix=world.namespace)
```

pytest then collects `TestProductCache::test_cachecheck[stateful_model]`,
`[concurrent_clients]`, `[redis_crash]`, … (see docs/plugging-in.md). This module does not
import pytest at import time.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky

from cachecheck._contract import Contract
from cachecheck._history import OpKind
from cachecheck._model import (
    FAULT_ERRORS,
    ModelConfig,
    ModelOutcome,
    _as_cache_contents,
    format_violation,
    run_model,
)
from cachecheck._redis_server import RedisServer
from cachecheck._report import (
    CheckRecord,
    ScenarioResult,
    Violation,
    build_subject,
    environment_facts,
    expiry_histogram,
    loads_over_time,
    loss_windows,
    make_payload,
    properties_from_results,
    staleness_histogram,
)
from cachecheck._runner import RunnerConfig, RunOutcome, run_concurrent
from cachecheck._subject import Closeable, Drainable, capabilities
from cachecheck._world import World
from cachecheck.checkers import CheckResult, check_history

if TYPE_CHECKING:
    import pytest

__all__ = [
    "BASE_FAULTS",
    "CHECKS",
    "CacheSuite",
    "Check",
    "CheckOptions",
    "CheckOutcome",
    "Target",
    "drive_model",
    "register_check",
    "run_check",
]

SubjectFactory = Callable[[World], Any]


@dataclass
class ModelRun:
    """A model outcome, and whether the run (and its shrinking) finished within the budget."""

    outcome: ModelOutcome
    complete: bool = True
    shrunk: bool = True


def drive_model(
    world: World,
    factory: SubjectFactory,
    contract: Contract,
    config: ModelConfig,
    *,
    settings: hypothesis_settings | None = None,
    seed: int | None = None,
    deadline: float | None = None,
    name: str | None = None,
) -> ModelRun:
    """`run_model` with a seed and a time budget (checked between examples).

    When the budget runs out, the best failing example seen so far (if any) is replayed from
    the example database, so a violation found before the budget ran out is still reported,
    with its partly shrunk steps. Errors that are not contract violations (the subject raised
    `TypeError`, …) come back as `outcome.error` with the steps of the failing example.
    """
    outcome = run_model(world, factory, contract, config, settings=settings, seed=seed,
                        deadline=deadline, name=name, shrink_seconds=None)  # fmt: skip
    return ModelRun(outcome, complete=outcome.complete, shrunk=outcome.shrunk)


# -- checks -----------------------------------------------------------------------------------


#: Faults of the base stateful model (each can be left out by a subject's `survives`).
BASE_FAULTS = frozenset({"interleavings", "time", "eviction"})


@dataclass(frozen=True)
class Target:
    """A subject to check: how to build it, what it promises, and which faults it claims to
    survive (names as in `cachecheck.strategies._registry.FAULTS`; None: every fault the
    world and the subject make possible)."""

    name: str
    factory: SubjectFactory
    contract: Contract
    kind: str = "reference"
    description: str = ""
    survives: frozenset[str] | None = None

    def claims(self, fault: str) -> bool:
        return self.survives is None or fault in self.survives


@dataclass(frozen=True)
class CheckOptions:
    """How hard a check runs. `settings=None` uses the current Hypothesis profile."""

    settings: hypothesis_settings | None = None
    seed: int | None = None
    model: ModelConfig | None = None
    runner: RunnerConfig | None = None
    deadline: float | None = None
    drain_timeout: float = 10.0


@dataclass
class CheckOutcome:
    record: CheckRecord
    scenarios: list[ScenarioResult] = field(default_factory=list)


Requirement = Callable[[World, frozenset[str], Target], str | None]
CheckRun = Callable[[World, Target, CheckOptions], CheckOutcome]


@dataclass(frozen=True)
class Check:
    """One check: `requirement` returns why it cannot run here (or None); `run` runs it."""

    name: str
    description: str
    driver: str
    requirement: Requirement
    run: CheckRun


def _always(world: World, caps: frozenset[str], target: Target) -> str | None:
    return None


def _not_claimed(target: Target, fault: str) -> str | None:
    if target.claims(fault):
        return None
    listed = ", ".join(sorted(target.survives or ())) or "none"
    return f"{target.name} does not claim to survive {fault} (it survives: {listed})"


def _needs_drain(world: World, caps: frozenset[str], target: Target) -> str | None:
    if "drain" in caps:
        return None
    return ("the subject has no drain(timeout) method, so its background work cannot be "
            "awaited: async convergence checks need cachecheck.Drainable")  # fmt: skip


def _needs_worker(world: World, caps: frozenset[str], target: Target) -> str | None:
    if "worker" in caps:
        return _not_claimed(target, "worker_crash")
    return ("the subject exposes no background worker (a .worker with crash(), start() and "
            "is_alive(), see cachecheck.HasWorker): nothing to crash")  # fmt: skip


def _needs_started_redis(fault: str) -> Requirement:
    def requirement(world: World, caps: frozenset[str], target: Target) -> str | None:
        if isinstance(world.redis_server, RedisServer):
            return _not_claimed(target, fault)
        return (f"Redis is external ({world.redis_server!r}): cachecheck crashes and kills "
                "connections only on servers it started itself")  # fmt: skip

    return requirement


def _needs_proxy(world: World, caps: frozenset[str], target: Target) -> str | None:
    if world.proxy is None:
        return "no fault proxy is attached to this world (see --cachecheck-toxiproxy)"
    if not callable(getattr(world.proxy, "disable", None)):
        return f"the attached fault proxy ({world.proxy!r}) cannot cut connections"
    return _not_claimed(target, "connection_reset")


def model_config(
    base: ModelConfig | None, survives: frozenset[str] | None, fault: str | None = None
) -> ModelConfig:
    """The model configuration of a check: interleavings, time travel and evictions where the
    subject claims to survive them (all by default), plus exactly one crash or network fault
    (`redis_crash`, `worker_crash`, `connection_kill`, `connection_reset`) or none. A `base`
    config given by the user is taken as is, apart from the crash and network faults."""
    claimed = BASE_FAULTS if survives is None else survives
    config = base or replace(
        ModelConfig(),
        interleavings="interleavings" in claimed,
        time_travel="time" in claimed,
        evictions="eviction" in claimed,
    )
    return replace(
        config,
        redis_crashes=fault == "redis_crash",
        worker_crashes=fault == "worker_crash",
        connection_kills=fault == "connection_kill",
        connection_resets=fault == "connection_reset",
    )


def _model_check(fault: str | None) -> CheckRun:
    def run(world: World, target: Target, options: CheckOptions) -> CheckOutcome:
        config = model_config(options.model, target.survives, fault)
        result = drive_model(world, target.factory, target.contract, config,
                             settings=options.settings, seed=options.seed,
                             deadline=options.deadline, name=target.name)  # fmt: skip
        return CheckOutcome(record_from_model(result))

    return run


def record_from_model(run: ModelRun, name: str = "") -> CheckRecord:
    """A report record for a model run (name and description are filled in by the caller)."""
    outcome = run.outcome
    record = CheckRecord(
        name=name,
        status="passed",
        driver="model",
        seconds=outcome.seconds,
        examples=outcome.examples,
        steps=outcome.steps,
        faults=dict(outcome.faults),
        properties=properties_from_results(outcome.results),
    )
    if outcome.violation is not None:
        return replace(record, status="failed", violation=_violation(outcome, run.shrunk))
    if outcome.error is not None:
        error = f"{type(outcome.error).__name__}: {outcome.error}"
        if isinstance(outcome.error, Flaky):
            error = ("the subject behaved differently when Hypothesis replayed the same steps "
                     f"(timing-dependent background work?): {error}")  # fmt: skip
        replay = Violation(message=error, counterexample=outcome.counterexample,
                           counterexample_steps=outcome.counterexample_steps, shrunk=run.shrunk,
                           time_to_catch_s=outcome.time_to_catch,
                           examples_to_catch=outcome.examples_to_catch)  # fmt: skip
        return replace(record, status="error", reason=error, violation=replay)
    if not run.complete:
        reason = (f"the time budget ran out after {outcome.examples} examples "
                  "(no violation seen); use a larger profile for more")  # fmt: skip
        return replace(record, status="incomplete", reason=reason)
    return record


def _violation(outcome: ModelOutcome, shrunk: bool) -> Violation:
    assert outcome.violation is not None
    return Violation(
        message=str(outcome.violation),
        properties=tuple(sorted(outcome.violation.properties)),
        counterexample=outcome.counterexample,
        counterexample_steps=outcome.counterexample_steps,
        shrunk=shrunk,
        time_to_catch_s=outcome.time_to_catch,
        examples_to_catch=outcome.examples_to_catch,
    )


def _concurrent_check(world: World, target: Target, options: CheckOptions) -> CheckOutcome:
    config = options.runner or RunnerConfig()
    if options.seed is not None:
        config = replace(config, seed=options.seed)
    outcome = run_concurrent(world, target.factory, target.contract, config)
    properties = properties_from_results(outcome.results)
    record = CheckRecord(name="", status="passed" if outcome.passed else "failed",
                         driver="runner", seconds=outcome.seconds, ops=outcome.ops,
                         faults=_count(outcome.faults_applied), properties=properties)  # fmt: skip
    if not outcome.passed:
        failed = [r for r in outcome.results if r.findings]
        # Threads interleave differently on every run: no replay, the findings are the proof.
        message = format_violation(target.contract, failed)
        record = replace(record, violation=Violation(
            message=message, properties=tuple(sorted(outcome.properties_violated))))  # fmt: skip
    return CheckOutcome(record, [measure_concurrent(world, outcome, config)])


def measure_concurrent(world: World, outcome: RunOutcome, config: RunnerConfig) -> ScenarioResult:
    """What the concurrent run measured, as a scenario with figures (staleness distribution,
    database load over time, expiry spread, loss windows)."""
    by_checker = outcome.measurements()
    staleness = by_checker.get("staleness", {})
    loads = by_checker.get("single_flight", {})
    durability = by_checker.get("durability", {})
    measurements: dict[str, Any] = {
        "clients": config.clients,
        "duration_s": round(outcome.seconds, 3),
        "operations": outcome.ops,
        "operations_per_s": round(outcome.ops / outcome.seconds, 1) if outcome.seconds else None,
        "client_errors": sum(outcome.client_errors.values()),
        "stale_reads": staleness.get("stale_reads"),
        "p50_staleness_ms": _ms(staleness.get("p50_staleness_s")),
        "p99_staleness_ms": _ms(staleness.get("p99_staleness_s")),
        "max_staleness_ms": _ms(staleness.get("max_staleness_s")),
        "db_loads": loads.get("loads"),
        "miss_episodes": loads.get("episodes"),
        "mean_loads_per_episode": loads.get("mean_loads_per_episode"),
        "max_loads_per_episode": loads.get("max_loads_per_episode"),
        "acknowledged_writes": durability.get("acknowledged"),
        "lost_writes": durability.get("lost"),
        "client_error_kinds": dict(outcome.client_errors),
    }
    ops = world.history.ops
    origin = min((op.invoked_at for op in ops), default=0.0)
    end = max((op.completed_at or op.invoked_at for op in ops), default=None)
    persistence = _persistence(world)
    figures = [
        staleness_histogram(staleness),
        loads_over_time(world.database.loads(), world.history.events, origin, end),
        expiry_histogram(dict(list(world.keyspace.pttls().items())[:1000])),
        loss_windows(durability, persistence),
    ]
    return ScenarioResult(
        name="concurrent_clients",
        status="measured",
        description=f"{config.clients} clients for {config.duration} s on keys "
        f"{', '.join(config.keys)} (seed {config.seed}), then a final read of every key",
        measurements=measurements,
        figures=tuple(f for f in figures if f is not None),
    )


def _drain_check(world: World, target: Target, options: CheckOptions) -> CheckOutcome:
    """Writes from three clients, then `drain()` must finish in time and every key must serve
    the database's value."""
    started = time.monotonic()
    world.reset()
    subject = target.factory(world)
    keys = ("k0", "k1", "k2")
    try:
        for n in range(3):
            for i, key in enumerate(keys):
                _recorded_write(world, subject, f"c{i}", key, f"{key}#drain{n}.{i}")
        finished = isinstance(subject, Drainable) and subject.drain(options.drain_timeout)
        served = {key: _recorded_read(world, subject, key) for key in keys}
    finally:
        if isinstance(subject, Closeable):
            subject.close()
    results = _final_results(world, target.contract, served)
    record = CheckRecord(name="", status="passed", driver="direct",
                         seconds=time.monotonic() - started, ops=len(world.history.ops),
                         properties=properties_from_results(results))  # fmt: skip
    failed = [r for r in results if r.findings]
    if not finished:
        reason = f"drain({options.drain_timeout}) returned False: background work did not finish"
        return CheckOutcome(
            replace(
                record,
                status="failed",
                reason=reason,
                violation=Violation(message=reason, properties=("drain",)),
            )
        )
    if failed:
        message = format_violation(target.contract, failed)
        props = tuple(sorted({f.property for r in failed for f in r.findings}))
        return CheckOutcome(
            replace(record, status="failed", violation=Violation(message=message, properties=props))
        )
    return CheckOutcome(record)


def _recorded_write(world: World, subject: Any, client: str, key: str, value: str) -> None:
    try:
        with world.history.record(client, OpKind.WRITE, key, value):
            subject.set(key, value)
    except FAULT_ERRORS:
        pass


def _recorded_read(world: World, subject: Any, key: str) -> Any:
    try:
        with world.history.record("final", OpKind.READ, key) as pending:
            value = subject.get(key)
            pending.ok(value)
    except FAULT_ERRORS:
        return None
    return value


def _final_results(world: World, contract: Contract, served: dict[str, Any]) -> list[CheckResult]:
    final_db = world.database.snapshot()
    return check_history(
        world.history.ops,
        world.database.commits(),
        world.history.events,
        contract,
        final_cache=_as_cache_contents(served, final_db),
        final_db=final_db,
        loads=world.database.loads(),
    )


CHECKS: list[Check] = [
    Check("stateful_model", "Hypothesis-driven operations, interleavings, time travel and "
          "evictions, checked after every step", "model", _always, _model_check(None)),
    Check("concurrent_clients", "real threads colliding on a few keys, checked afterwards",
          "runner", _always, _concurrent_check),
    Check("drain_converges", "async work drains in time and leaves the cache converged",
          "direct", _needs_drain, _drain_check),
    Check("redis_crash", "the stateful model with SIGKILL and restart of the Redis server",
          "model", _needs_started_redis("redis_crash"), _model_check("redis_crash")),
    Check("worker_crash", "the stateful model with crashes of the subject's worker",
          "model", _needs_worker, _model_check("worker_crash")),
    Check("connection_kills", "the stateful model with every client connection killed "
          "server-side (CLIENT KILL)", "model", _needs_started_redis("connection_kill"),
          _model_check("connection_kill")),
    Check("connection_resets", "the stateful model with every connection through the fault "
          "proxy cut", "model", _needs_proxy, _model_check("connection_reset")),
]  # fmt: skip


def register_check(check: Check) -> Check:
    """Add a check (e.g. a chaos scenario) to every suite and every `cachecheck run`."""
    if any(c.name == check.name for c in CHECKS):
        raise ValueError(f"check {check.name!r} registered twice")
    CHECKS.append(check)
    return check


def check_named(name: str) -> Check:
    for check in CHECKS:
        if check.name == name:
            return check
    raise KeyError(f"unknown check {name!r}; known: {', '.join(c.name for c in CHECKS)}")


def probe_capabilities(world: World, factory: SubjectFactory) -> frozenset[str]:
    """Build one subject to see what it offers (then close it)."""
    subject = factory(world)
    try:
        return capabilities(subject)
    finally:
        if isinstance(subject, Closeable):
            subject.close()


def run_check(
    check: Check, world: World, target: Target, caps: frozenset[str], options: CheckOptions
) -> CheckOutcome:
    """Run one check, or record why it was skipped. Never raises for a subject's misbehaviour:
    an unexpected exception becomes an `error` record. The world is healed afterwards."""
    reason = check.requirement(world, caps, target)
    base = CheckRecord(name=check.name, status="skipped", driver=check.driver,
                       description=check.description, reason=reason)  # fmt: skip
    if reason is not None:
        return CheckOutcome(base)
    started = time.monotonic()
    try:
        outcome = check.run(world, target, options)
    except Exception as exc:  # the subject (or its factory) raised where no check catches it
        error = f"{type(exc).__name__}: {exc} ({where_raised(exc)})"
        record = replace(base, status="error", reason=error,
                         seconds=time.monotonic() - started)  # fmt: skip
        return CheckOutcome(record)
    finally:
        heal(world)
    outcome.record = replace(outcome.record, name=check.name, driver=check.driver,
                             description=check.description)  # fmt: skip
    return outcome


def heal(world: World) -> None:
    """Undo what a check may have left broken: hooks, a paused or killed server."""
    world.io.hook = None
    world.database.hooks.clear()
    server = world.redis_server
    if isinstance(server, RedisServer):
        if server.paused:
            server.resume()
        if not server.running:
            server.restart()
    world.close_clients()


def where_raised(exc: BaseException) -> str:
    """`file:line in function` of the innermost frame of `exc`'s traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def _count(names: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _ms(seconds: object) -> float | None:
    return round(seconds * 1000.0, 3) if isinstance(seconds, int | float) else None


def _persistence(world: World) -> str:
    server = world.redis_server
    return str(server.options.persistence) if isinstance(server, RedisServer) else "external"


# -- pytest ---------------------------------------------------------------------------------


class CacheSuite:
    """Subclass it in a test module (with a `Test` name) to check your cache with every
    applicable check; pytest collects one `test_cachecheck[<check>]` per check.

    Set `contract` and implement `make_subject(world)`, which builds your cache on the
    world's Redis client (`world.client()`, keys under `world.namespace`) and source of truth
    (`world.database`, or your own tables through an adapter). A cache written as a decorator
    around a loader plugs in through `cachecheck.FunctionSubject`.

    Optional class attributes:

    - `survives`: faults the cache claims to survive (None: all the world allows); e.g.
      `frozenset({"interleavings", "time", "eviction"})` turns the crash checks off.
    - `settings`: Hypothesis settings for the model checks (default: the current profile).
    - `model_config` / `runner_config`: override the derived `ModelConfig` / `RunnerConfig`.
    - `skip_checks`: `{check name: reason}` for checks you leave out on purpose (reported
      as skipped); `checks`: the names of the only checks to collect.
    - `name`: the subject's name in reports (default: the contract's name).

    .. versionadded:: 0.1
    """

    contract: ClassVar[Contract]
    survives: ClassVar[frozenset[str] | None] = None
    settings: ClassVar[hypothesis_settings | None] = None
    model_config: ClassVar[ModelConfig | None] = None
    runner_config: ClassVar[RunnerConfig | None] = None
    skip_checks: ClassVar[Mapping[str, str]] = {}
    checks: ClassVar[Sequence[str] | None] = None
    name: ClassVar[str | None] = None
    drain_timeout: ClassVar[float] = 10.0

    def make_subject(self, world: World) -> Any:
        """Build the cache under test on `world` (a fresh one per call)."""
        raise NotImplementedError(
            f"{type(self).__name__} must define make_subject(self, world) returning the cache "
            "under test (see cachecheck.suite.CacheSuite)"
        )

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One `test_cachecheck` per registered check, named after it."""
        if "cachecheck_check" in metafunc.fixturenames:
            self._validate()
            names = [c.name for c in CHECKS if self.checks is None or c.name in self.checks]
            metafunc.parametrize("cachecheck_check", names, ids=names)

    def test_cachecheck(
        self,
        cachecheck_check: str,
        cachecheck_world: World,
        cachecheck_record: Callable[[dict[str, Any]], None],
        request: pytest.FixtureRequest,
    ) -> None:
        """Run one check; skip with its reason, or fail with the shrunk counterexample."""
        import pytest

        target = self._target()
        caps = probe_capabilities(cachecheck_world, target.factory)
        check = next(c for c in CHECKS if c.name == cachecheck_check)
        if check.name in self.skip_checks:
            check = replace(check, requirement=_skipped_by_user(self.skip_checks[check.name]))
        outcome = run_check(check, cachecheck_world, target, caps, self._options())
        record = replace(outcome.record, nodeid=request.node.nodeid)
        subject = build_subject(target.name, kind="pytest", description=target.description,
                                contract=target.contract.describe(), capabilities=caps)  # fmt: skip
        cls_node = request.node.parent
        subject_id = cls_node.nodeid if cls_node is not None else request.node.nodeid
        cachecheck_record(make_payload(subject_id, subject, record, outcome.scenarios,
                                       environment_facts(cachecheck_world.describe())))  # fmt: skip
        if record.status == "skipped":
            pytest.skip(f"{check.name}: {record.reason}")
        if record.status in ("failed", "error"):
            pytest.fail(failure_text(target, record), pytrace=False)

    # -- helpers ------------------------------------------------------------------------------

    def _validate(self) -> None:
        contract = getattr(self, "contract", None)
        if not isinstance(contract, Contract):
            raise TypeError(
                f"{type(self).__name__}.contract must be a cachecheck.Contract stating what "
                f"the cache promises, got {type(contract).__name__}"
            )
        known = {c.name for c in CHECKS}
        for attr in ("skip_checks", "checks"):
            unknown = set(getattr(self, attr) or ()) - known
            if unknown:
                raise TypeError(
                    f"{type(self).__name__}.{attr} names unknown checks {sorted(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )

    def _target(self) -> Target:
        doc = (type(self).__doc__ or "").strip().splitlines()
        name = self.name or self.contract.name
        return Target(name, self.make_subject, self.contract, "pytest",
                      doc[0] if doc else "", self.survives)  # fmt: skip

    def _options(self) -> CheckOptions:
        return CheckOptions(settings=self.settings, model=self.model_config,
                            runner=self.runner_config,
                            drain_timeout=self.drain_timeout)  # fmt: skip


def _skipped_by_user(reason: str) -> Requirement:
    def requirement(world: World, caps: frozenset[str], target: Target) -> str | None:
        return f"skipped by the suite: {reason}"

    return requirement


def failure_text(target: Target, record: CheckRecord) -> str:
    """What a failed check prints: the findings, then the shrunk steps that replay them."""
    lines = [f"cachecheck {record.name} failed for {target.name!r}"]
    if record.violation is None:
        return "\n".join([*lines, record.reason or ""])
    v = record.violation
    lines.append(v.message)
    if v.counterexample:
        shrunk = "shrunk" if v.shrunk else "partly shrunk"
        n = v.counterexample_steps
        count = "" if n is None else f"{n} step{'' if n == 1 else 's'}, "
        lines += ["", f"Counterexample ({count}{shrunk}):", v.counterexample]
    return "\n".join(lines)
