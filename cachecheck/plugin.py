"""The pytest plugin: options, ini keys and fixtures that give every test a real world.

Only this module imports pytest. Heavy imports happen inside fixtures, so installing
cachecheck costs other test suites nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cachecheck._errors import ConfigError
from cachecheck._settings import SETTINGS, CachecheckSettings, Setting, resolve_settings

if TYPE_CHECKING:
    import redis

    from cachecheck._database import Database
    from cachecheck._redis_server import RedisHandle, RedisServer, ServerOptions
    from cachecheck._world import World

_SETTINGS_KEY = pytest.StashKey[CachecheckSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cachecheck", "cachecheck: cache correctness testing")
    for setting in SETTINGS:
        help_text = f"{setting.help} Env {setting.env}; ini {setting.ini}."
        if setting.is_flag:
            group.addoption(setting.option, action="store_true", default=None, help=help_text)
            parser.addini(setting.ini, setting.help, type="bool", default=False)
        else:
            group.addoption(
                setting.option,
                default=None,
                metavar="VALUE",
                help=f"{help_text} Default: {setting.default!r}.",
            )
            parser.addini(setting.ini, setting.help, default=None)
    _add_report_option(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cachecheck: a test that runs against cachecheck's world")
    try:
        config.stash[_SETTINGS_KEY] = resolve_settings(lambda s: _lookup(config, s))
    except ConfigError as exc:
        raise pytest.UsageError(f"cachecheck: {exc}") from None
    _configure_report(config)


def _lookup(config: pytest.Config, setting: Setting) -> str | None:
    option = config.getoption(setting.option)
    if option is not None:
        return "true" if option is True else str(option)
    if setting.env in os.environ:
        return os.environ[setting.env]
    ini = config.getini(setting.ini)
    if setting.is_flag:
        return "true" if ini else None
    return None if ini in (None, "", []) else str(ini)


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash.get(_SETTINGS_KEY, None)
    if settings is None:
        return "cachecheck: not configured"
    return (
        f"cachecheck: redis={settings.redis} persistence={settings.server.persistence} "
        f"db={settings.db_url or 'sqlite'} toxiproxy={settings.toxiproxy}"
    )


def settings_of(config: pytest.Config) -> CachecheckSettings:
    """The resolved settings of a pytest run."""
    return config.stash[_SETTINGS_KEY]


@pytest.fixture(scope="session")
def cachecheck_settings(pytestconfig: pytest.Config) -> CachecheckSettings:
    """cachecheck's resolved settings (options > env > ini > defaults)."""
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def cachecheck_redis_server(cachecheck_settings: CachecheckSettings) -> Iterator[RedisHandle]:
    """The session's Redis server (one per xdist worker): started on loopback by cachecheck, or
    the server named by --cachecheck-redis=URL. Stopped at the end of the session."""
    from cachecheck._errors import ProvisionError
    from cachecheck._providers import start_redis

    try:
        server = start_redis(cachecheck_settings.redis, cachecheck_settings.server)
    except ProvisionError as exc:
        pytest.fail(f"cachecheck could not provide Redis: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _cachecheck_database(cachecheck_settings: CachecheckSettings) -> Iterator[Database]:
    from cachecheck._clock import OffsetClock
    from cachecheck._database import Database

    # An OffsetClock reads real time but lets a test jump ahead (TTLs, breaker timeouts).
    database = Database(
        cachecheck_settings.db_url,
        clock=OffsetClock(),
        allow_reset=cachecheck_settings.allow_flush,
    )
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def cachecheck_db(_cachecheck_database: Database) -> Iterator[Database]:
    """The source-of-truth database, empty at the start of each test, hooks cleared."""
    _cachecheck_database.reset()
    yield _cachecheck_database
    _cachecheck_database.hooks.clear()


@pytest.fixture(scope="session")
def cachecheck_toxiproxy(cachecheck_settings: CachecheckSettings) -> Iterator[Any]:
    """The session's fault proxy server (`--cachecheck-toxiproxy`): a real `toxiproxy-server`
    when one is on PATH, else cachecheck's embedded Toxiproxy-compatible server."""
    from cachecheck._errors import ProvisionError
    from cachecheck.chaos import start_session_toxiproxy

    try:
        handle = start_session_toxiproxy(cachecheck_settings.toxiproxy, seed=0)
    except ProvisionError as exc:
        pytest.fail(f"cachecheck could not provide the fault proxy: {exc}", pytrace=False)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def _cachecheck_redis_proxy(
    cachecheck_toxiproxy: Any, cachecheck_redis_server: RedisHandle
) -> Iterator[Any]:
    from cachecheck.chaos import ToxiproxyError, proxy_name, proxy_redis

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    proxy = proxy_redis(cachecheck_toxiproxy, cachecheck_redis_server, name=proxy_name(worker))
    yield proxy
    with contextlib.suppress(ToxiproxyError, OSError):
        proxy.delete()


@pytest.fixture
def cachecheck_world(
    request: pytest.FixtureRequest,
    cachecheck_redis_server: RedisHandle,
    cachecheck_db: Database,
    cachecheck_settings: CachecheckSettings,
    cachecheck_toxiproxy: Any,
    _cachecheck_redis_proxy: Any,
) -> Iterator[World]:
    """The world a test runs against: Redis (clean keyspace) behind the fault proxy (no
    faults), database (empty), clock and history. `world.client()` goes through the proxy,
    `world.admin_client()` does not. A server a previous test killed or paused is revived."""
    from cachecheck._redis_server import RedisServer
    from cachecheck._world import World
    from cachecheck.chaos import attach_proxy, reset_faults

    if isinstance(cachecheck_redis_server, RedisServer):
        _revive(cachecheck_redis_server)
    reset_faults(cachecheck_toxiproxy, [_cachecheck_redis_proxy])
    cachecheck_toxiproxy.reseed(zlib.crc32(request.node.nodeid.encode()))
    world = World(
        cachecheck_redis_server,
        cachecheck_db,
        cachecheck_settings.client,
        cachecheck_db.clock,
        cachecheck_settings.allow_flush,
    )
    attach_proxy(world, _cachecheck_redis_proxy)
    world.reset()
    try:
        yield world
    finally:
        world.close_clients()
        reset_faults(cachecheck_toxiproxy, [_cachecheck_redis_proxy])


@pytest.fixture
def cachecheck_proxy(cachecheck_world: World) -> Any:
    """The fault proxy in front of Redis for this test (no faults at the start):
    `with cachecheck_proxy.fault(Latency(ms=50)): ...`."""
    return cachecheck_world.proxy


def _revive(server: RedisServer) -> None:
    if server.paused:
        server.resume()
    if not server.running:
        server.restart()


@pytest.fixture
def cachecheck_redis(cachecheck_world: World) -> redis.Redis:
    """A redis-py client on a clean keyspace, with cachecheck's explicit timeouts and retries.
    Write keys under `cachecheck_world.namespace`."""
    return cachecheck_world.client()


@pytest.fixture
def cachecheck_redis_factory(
    cachecheck_settings: CachecheckSettings,
) -> Iterator[Callable[..., RedisServer]]:
    """Start extra servers with their own options (e.g. another persistence mode):
    `server = cachecheck_redis_factory(persistence="aof:always")`. Stopped after the test."""

    started: list[RedisServer] = []

    def start(**options: Any) -> RedisServer:
        server = _start_binary_server(cachecheck_settings, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _start_binary_server(settings: CachecheckSettings, **options: Any) -> RedisServer:
    from dataclasses import replace

    from cachecheck._config import RedisProviderKind, RedisSpec, parse_persistence
    from cachecheck._providers import start_redis
    from cachecheck._redis_server import RedisServer

    server_options: ServerOptions = settings.server
    if "persistence" in options and isinstance(options["persistence"], str):
        options["persistence"] = parse_persistence(options["persistence"])
    server_options = replace(server_options, **options)
    spec = settings.redis
    if spec.kind not in (RedisProviderKind.BINARY, RedisProviderKind.AUTO):
        spec = RedisSpec(RedisProviderKind.AUTO)
    server = start_redis(spec, server_options)
    if not isinstance(server, RedisServer):
        server.stop()
        pytest.skip("cachecheck_redis_factory needs a redis-server or valkey-server binary")
    return server


# -- reports: --cachecheck-report DIR, JUnit XML properties, xdist ------------------------------

REPORT_OPTION = "--cachecheck-report"
REPORT_ENV = "CACHECHECK_REPORT"
REPORT_INI = "cachecheck_report"
#: Attribute of a TestReport carrying the test's cachecheck payloads (travels through xdist).
RESULTS_ATTR = "cachecheck_results"
_RESULTS_KEY = pytest.StashKey[list[dict[str, Any]]]()


def _add_report_option(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    group.addoption(
        REPORT_OPTION,
        default=None,
        metavar="DIR",
        help="Write report.json, report.html and summary.md of every cachecheck suite test to "
        f"DIR. Env {REPORT_ENV}; ini {REPORT_INI}.",
    )
    parser.addini(REPORT_INI, "Directory for cachecheck's report.", default=None)


def _configure_report(config: pytest.Config) -> None:
    """Register the report writer on the process that writes it (never on an xdist worker)."""
    directory = config.getoption(REPORT_OPTION) or os.environ.get(REPORT_ENV)
    directory = directory or config.getini(REPORT_INI) or None
    if not directory or hasattr(config, "workerinput"):
        return
    from cachecheck._report import ReportError, check_writable

    try:
        path = check_writable(config.invocation_params.dir / str(directory))
    except ReportError as exc:
        raise pytest.UsageError(f"cachecheck: {REPORT_OPTION}: {exc}") from None
    config.pluginmanager.register(_ReportSession(path), "cachecheck-report")


@pytest.fixture
def cachecheck_record(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], None]:
    """Attach a cachecheck result payload to this test: it reaches `--cachecheck-report`
    (through xdist too), and its summary reaches JUnit XML as `cachecheck.*` properties."""
    from cachecheck._report import junit_properties

    def record(payload: dict[str, Any]) -> None:
        request.node.stash.setdefault(_RESULTS_KEY, []).append(payload)
        request.node.user_properties.extend(junit_properties(payload))

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    payloads = item.stash.get(_RESULTS_KEY, None)
    if payloads and report.when == "call":
        setattr(report, RESULTS_ATTR, list(payloads))
    return report


class _ReportSession:
    """Collects payloads from test reports (local or from xdist workers); writes once."""

    def __init__(self, directory: Path) -> None:
        from cachecheck._report import ReportCollector

        self.directory = directory
        self.collector = ReportCollector("pytest")
        self.started = time.monotonic()
        self.outcome = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for payload in getattr(report, RESULTS_ATTR, None) or ():
            self.collector.add(payload)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from cachecheck._report import ReportError, write_report

        report = self.collector.build(duration_s=time.monotonic() - self.started)
        try:
            paths = write_report(report, self.directory)
        except ReportError as exc:
            self.outcome = f"cachecheck: the report was not written: {exc}"
            return
        self.outcome = (
            f"cachecheck report ({report.status}, {len(report.subjects)} subjects): {paths.html}"
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcome:
            terminalreporter.write_line(self.outcome)
