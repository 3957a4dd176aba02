"""`cachecheck run`: the main job.

`run_command` starts the embedded world once (a Redis server cachecheck starts, the fault
proxy, SQLite), runs every check of `cachecheck.suite` on every reference strategy (or on
`--target module:factory`) within the profile's time budget, prints progress, and writes the
report. Exit codes: 0 passed, 1 violations or errors; usage and configuration errors raise
`CachecheckError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from cachecheck._contract import Contract
from cachecheck._errors import CachecheckError
from cachecheck._report import (
    CheckRecord,
    Problem,
    Report,
    ScenarioResult,
    SubjectReport,
    build_subject,
    environment_facts,
    now_iso,
    write_report,
)
from cachecheck._runner import RunnerConfig
from cachecheck._subject import Closeable, Subject
from cachecheck._world import World
from cachecheck.suite import (
    BASE_FAULTS,
    CHECKS,
    CheckOptions,
    Target,
    heal,
    probe_capabilities,
    run_check,
    where_raised,
)

SubjectFactory = Callable[[World], Any]


class TargetError(CachecheckError):
    """`--target` names nothing usable (a usage error: exit code 2)."""


# -- profiles and budgets ----------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How hard `cachecheck run` tries."""

    name: str
    max_examples: int
    step_count: int
    runner_duration: float
    runner_clients: int
    #: Seconds for all checks of the run, shared out as subjects and checks start.
    total_budget: float | None
    #: Upper bound for any one check.
    check_budget: float | None

    def hypothesis(self) -> hypothesis_settings:
        return hypothesis_settings(
            max_examples=self.max_examples,
            stateful_step_count=self.step_count,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
        )

    def runner(self, seed: int) -> RunnerConfig:
        return RunnerConfig(clients=self.runner_clients, duration=self.runner_duration, seed=seed)


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", 8, 12, 0.4, 3, total_budget=40.0, check_budget=5.0),
    "ci": Profile("ci", 50, 25, 2.0, 4, total_budget=None, check_budget=60.0),
    "thorough": Profile("thorough", 300, 50, 10.0, 8, total_budget=None, check_budget=600.0),
}


class Budget:
    """Shares a total time budget out over subjects, then over each subject's checks."""

    def __init__(self, profile: Profile) -> None:
        self.per_check = profile.check_budget
        total = profile.total_budget
        self.end = None if total is None else time.monotonic() + total

    def subject_end(self, subjects_left: int) -> float | None:
        if self.end is None:
            return None
        now = time.monotonic()
        return now + max(self.end - now, 0.0) / max(subjects_left, 1)

    def check_deadline(
        self, subject_end: float | None, checks_left: int, reserved: float = 0.0
    ) -> float | None:
        """When the next of `checks_left` budgeted checks must stop; `reserved` seconds of the
        subject's share are kept for checks of fixed length (the concurrent runner)."""
        now = time.monotonic()
        candidates = [] if self.per_check is None else [now + self.per_check]
        if subject_end is not None:
            share = max(subject_end - now - reserved, 0.0) / max(checks_left, 1)
            candidates.append(now + share)
        return min(candidates, default=None)


# -- targets --------------------------------------------------------------------------------


#: Extras that provide the optional dependencies of some reference strategies.
EXTRAS = {"uhashring": "sharding", "prometheus_client": "metrics", "starlette": "http"}


@dataclass(frozen=True)
class References:
    """The reference strategies to check, and what kept others from loading: `problems` (a
    module that failed to import: the run fails) and `unavailable` (a module whose optional
    dependency is not installed: reported as skipped)."""

    targets: list[Target]
    problems: list[Problem]
    unavailable: list[SubjectReport]


def load_references(names: Sequence[str] = ()) -> References:
    """Every registered reference strategy (or those named), importing every public module of
    `cachecheck.strategies` first; modules that fail to import are reported, not fatal."""
    import cachecheck.strategies as package
    from cachecheck.strategies._registry import REFERENCES

    problems, unavailable = [], []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = f"{package.__name__}.{info.name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.startswith("cachecheck"):
                problems.append(Problem(module, f"import failed: {exc}"))
            else:
                unavailable.append(_unavailable(module, exc.name))
        except Exception as exc:
            problems.append(Problem(module, f"import failed: {type(exc).__name__}: {exc}"))
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        known = ", ".join(sorted(REFERENCES))
        raise TargetError(f"unknown strategy {', '.join(map(repr, unknown))}; known: {known}")
    chosen = [REFERENCES[n] for n in names] if names else list(REFERENCES.values())
    targets = [
        Target(
            r.name,
            r.factory,
            r.contract,
            "reference",
            r.description,
            frozenset(getattr(r, "survives", BASE_FAULTS)),
        )
        for r in chosen
    ]
    return References(targets, problems, [] if names else unavailable)


def _unavailable(module: str, dependency: str) -> SubjectReport:
    top = dependency.split(".")[0]
    extra = EXTRAS.get(top)
    hint = f"pip install 'pytest-cachecheck[{extra}]'" if extra else f"install {top}"
    reason = f"needs the optional dependency {top!r} ({hint})"
    record = CheckRecord("import", "skipped", "direct", reason=reason)
    return build_subject(module.rsplit(".", 1)[-1], kind="reference", checks=[record],
                         description=f"{module}: not installed")  # fmt: skip


@dataclass(frozen=True)
class TargetSpec:
    """`--target module:factory`, imported but not yet called."""

    text: str
    module: Any
    factory: SubjectFactory


def import_target(text: str) -> TargetSpec:
    """Import `module:factory` (the current directory is importable, as with `python -m`)."""
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"--target {text!r}: use module:factory, e.g. myapp.cache:make_cache")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise TargetError(
                f"--target {text!r}: no module named {exc.name!r} (run from the directory that "
                "contains it, or install it)"
            ) from None
        raise TargetError(_raised(f"importing {module_name!r}", exc)) from None
    except (Exception, SystemExit) as exc:
        raise TargetError(_raised(f"importing {module_name!r}", exc)) from None
    factory: Any = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise TargetError(f"--target {text!r}: module {module_name!r} has no {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise TargetError(
            f"--target {text!r} is a {type(factory).__name__}, not a factory: it must be a "
            "callable that takes the World and returns a cache subject"
        )
    return TargetSpec(text, module, factory)


def resolve_target(spec: TargetSpec, world: World) -> Target:
    """Call the factory once to check what it returns, and find the contract: the subject's
    `contract` attribute, else the factory's, else the module's `CONTRACT`."""
    try:
        subject = spec.factory(world)
    except Exception as exc:
        raise TargetError(_raised(f"the factory {spec.text!r}", exc)) from None
    try:
        if not isinstance(subject, Subject):
            raise TargetError(
                f"the factory {spec.text!r} returned {type(subject).__name__!r}, which is not a "
                "cache subject: it needs get(key), set(key, value) and delete(key) "
                "(wrap a function cache in cachecheck.FunctionSubject)"
            )
        contract = _contract_of(spec, subject)
    finally:
        if isinstance(subject, Closeable):
            subject.close()
        world.close_clients()
    name = contract.name if contract.name != Contract().name else spec.text
    doc = (getattr(spec.factory, "__doc__", None) or "").strip().splitlines()
    return Target(name, spec.factory, contract, "target", doc[0] if doc else spec.text)


def _contract_of(spec: TargetSpec, subject: object) -> Contract:
    for owner, where in ((subject, "the subject"), (spec.factory, "the factory"),
                         (spec.module, "the module")):  # fmt: skip
        attr = "CONTRACT" if owner is spec.module else "contract"
        found = getattr(owner, attr, None)
        if found is None:
            continue
        if not isinstance(found, Contract):
            raise TargetError(
                f"{where}'s {attr} for {spec.text!r} is a {type(found).__name__}, not a "
                "cachecheck.Contract"
            )
        return found
    raise TargetError(
        f"no contract for {spec.text!r}: give the subject or the factory a `contract` "
        "attribute, or define CONTRACT = cachecheck.Contract(...) in its module"
    )


def _raised(what: str, exc: BaseException) -> str:
    return f"{what} raised {type(exc).__name__}: {exc} ({where_raised(exc)})"


# -- cachecheck run -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """The parsed arguments of `cachecheck run`."""

    profile: Profile
    target: str | None = None
    report_dir: Path | None = Path("cachecheck-report")
    seed: int = 0
    strategies: tuple[str, ...] = ()
    #: Names of the only checks to run (empty: all).
    checks: tuple[str, ...] = ()
    proxy: bool = True


_SYMBOLS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "skip",
            "incomplete": "PART", "measured": "info"}  # fmt: skip


def run_command(request: RunRequest, out: TextIO) -> int:
    """`cachecheck run`: 0 when every check passed, 1 on violations or errors; usage and
    configuration problems raise `CachecheckError` (the CLI turns them into exit code 2)."""
    from cachecheck._report import check_writable
    from cachecheck._settings import settings_from_env

    started = time.monotonic()
    unknown = set(request.checks) - {c.name for c in CHECKS}
    if unknown:
        known = ", ".join(c.name for c in CHECKS)
        raise TargetError(f"unknown check {', '.join(sorted(unknown))}; known: {known}")
    report_dir = None if request.report_dir is None else check_writable(request.report_dir)
    settings = settings_from_env()
    spec = import_target(request.target) if request.target else None
    references = load_references(request.strategies) if spec is None else None
    targets = [] if references is None else references.targets
    problems = [] if references is None else references.problems
    with _started_world(settings) as world, _proxy(world, settings, request, out) as proxy:
        if spec is not None:
            targets = [resolve_target(spec, world)]
        _print_header(request, world, proxy, len(targets), out)
        subjects = _check_all(world, targets, request, out)
        if references is not None:
            subjects += references.unavailable
            for missing in references.unavailable:
                print(f"      skip  {missing.name}: {missing.checks[0].reason}", file=out)
        environment = environment_facts(world.describe())
    report = Report(source="cachecheck run", subjects=tuple(subjects), created_at=now_iso(),
                    duration_s=time.monotonic() - started, profile=request.profile.name,
                    seed=request.seed, environment=environment,
                    problems=tuple(problems))  # fmt: skip
    _print_footer(report, out)
    if report_dir is not None:
        paths = write_report(report, report_dir)
        print(f"report: {paths.html} (also {paths.json.name}, {paths.markdown.name})", file=out)
    return 1 if report.status == "failed" else 0


@contextmanager
def _started_world(settings: Any) -> Iterator[World]:
    world = World.start(settings.redis, db_url=settings.db_url, options=settings.server,
                        settings=settings.client, allow_flush=settings.allow_flush)  # fmt: skip
    try:
        yield world
    finally:
        world.close()


@contextmanager
def _proxy(world: World, settings: Any, request: RunRequest, out: TextIO) -> Iterator[str]:
    """Route the world's clients through the fault proxy when one can be started."""
    if not request.proxy:
        yield "off (--no-proxy)"
        return
    try:
        from cachecheck.chaos import attach_proxy, proxy_redis, start_toxiproxy

        handle = start_toxiproxy(settings.toxiproxy, seed=request.seed)
    except Exception as exc:  # the run goes on without network faults
        yield f"unavailable ({type(exc).__name__}: {exc})"
        return
    try:
        attach_proxy(world, proxy_redis(handle, world.redis_server))
        label = f"{handle.kind} ({handle.api_url})"
    except Exception as exc:
        label = f"unavailable ({type(exc).__name__}: {exc})"
    try:
        yield label
    finally:
        world.close_clients()
        handle.stop()


def _check_all(
    world: World, targets: Sequence[Target], request: RunRequest, out: TextIO
) -> list[SubjectReport]:
    budget = Budget(request.profile)
    subjects = []
    for i, target in enumerate(targets):
        print(f"[{i + 1:>2}/{len(targets)}] {target.name}: {target.description}", file=out)
        out.flush()
        subjects.append(check_target(world, target, request, budget.subject_end(len(targets) - i),
                                     budget, out))  # fmt: skip
    return subjects


def check_target(
    world: World,
    target: Target,
    request: RunRequest,
    subject_end: float | None,
    budget: Budget,
    out: TextIO,
) -> SubjectReport:
    """Every check on one subject, printing a line per check as it finishes."""
    try:
        caps = probe_capabilities(world, target.factory)
    except Exception as exc:
        record = CheckRecord("build", "error", "direct", reason=_raised("the factory", exc))
        _print_check(record, out)
        return build_subject(target.name, kind=target.kind, description=target.description,
                             contract=target.contract.describe(), checks=[record])  # fmt: skip
    finally:
        heal(world)
    chosen = [c for c in CHECKS if not request.checks or c.name in request.checks]
    runnable = [c for c in chosen if c.requirement(world, caps, target) is None]
    budgeted = [c for c in runnable if c.driver == "model"]
    fixed = request.profile.runner_duration * (len(runnable) - len(budgeted))
    records: list[CheckRecord] = []
    scenarios: list[ScenarioResult] = []
    for check in chosen:
        deadline = None
        if check in budgeted:
            deadline = budget.check_deadline(subject_end, len(budgeted), fixed)
            budgeted.remove(check)
        elif check in runnable:
            fixed = max(fixed - request.profile.runner_duration, 0.0)
        options = CheckOptions(settings=request.profile.hypothesis(), seed=request.seed,
                               runner=request.profile.runner(request.seed),
                               deadline=deadline)  # fmt: skip
        outcome = run_check(check, world, target, caps, options)
        records.append(outcome.record)
        scenarios.extend(outcome.scenarios)
        if outcome.record.status != "skipped" or request.target:
            _print_check(outcome.record, out)
    skipped = [r.name for r in records if r.status == "skipped"]
    if skipped and not request.target:
        print(f"      skip  {', '.join(skipped)} (reasons in the report)", file=out)
    return build_subject(target.name, kind=target.kind, description=target.description,
                         contract=target.contract.describe(), capabilities=caps,
                         checks=records, scenarios=scenarios)  # fmt: skip


def _print_header(request: RunRequest, world: World, proxy: str, count: int, out: TextIO) -> None:
    redis = world.redis_server.describe()
    flavour = " ".join(str(redis.get(k, "")) for k in ("flavour", "version") if redis.get(k))
    lines = [
        f"cachecheck run: profile {request.profile.name}, seed {request.seed}, "
        f"{count} subject{'s' if count != 1 else ''}",
        f"  redis: {flavour or redis.get('kind', '?')} at {world.redis_server.url}",
        f"  proxy: {proxy}",
        f"  database: {world.database.describe().get('url', 'sqlite')}",
    ]
    print("\n".join(lines), file=out)
    out.flush()


def _print_check(record: CheckRecord, out: TextIO) -> None:
    effort = []
    if record.examples:
        effort.append(f"{record.examples} examples, {record.steps} steps")
    if record.ops:
        effort.append(f"{record.ops} ops")
    faults = sum(record.faults.values())
    if faults:
        effort.append(f"{faults} faults")
    detail = ", ".join(effort) if record.status != "skipped" else record.reason or ""
    line = f"      {_SYMBOLS[record.status]:<5} {record.name:<20} {detail}"
    if record.status != "skipped":
        line += f"  ({record.seconds:.1f} s)"
    print(line, file=out)
    if record.status in ("failed", "error", "incomplete"):
        print(_indent(_explain(record), 12), file=out)
    out.flush()


def _explain(record: CheckRecord) -> str:
    v = record.violation
    if v is None:
        return record.reason or record.status
    text = v.message
    if v.counterexample:
        note = "" if v.shrunk else "  (shrinking stopped by the time budget)"
        text += f"\nreplay:{note}\n{_indent(v.counterexample, 2)}"
    return text


def _indent(text: str, width: int) -> str:
    pad = " " * width
    return "\n".join(pad + line for line in text.splitlines())


def _print_footer(report: Report, out: TextIO) -> None:
    t = report.totals()
    print(
        f"\n{report.status.upper()}: {t['subjects_passed']} of {t['subjects']} subjects passed, "
        f"{t['checks_failed']} checks failed, {t['checks_error']} errors, "
        f"{t['checks_skipped']} skipped; {t['examples']} examples, {t['steps']} steps, "
        f"{t['ops']} ops, {t['faults']} faults in {report.duration_s:.1f} s",
        file=out,
    )
    for problem in report.problems:
        print(f"problem: {problem.where}: {problem.message}", file=out)
