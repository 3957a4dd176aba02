"""Where the fault proxy comes from; every kind is driven through the same HTTP client.

| spec | server |
|---|---|
| `auto` | `toxiproxy-server` on PATH if present, else the embedded server |
| `embedded` | cachecheck's in-process server (a background thread), seeded |
| `binary[:PATH]` | the real binary on 127.0.0.1 and a free port, killed by the reaper if we die |
| `docker[:IMAGE]` | the real server in a container (testcontainers, host networking, Linux) |
| `http://host:port` | a server the user runs; cachecheck never stops it |
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cachecheck._config import ProxyProviderKind, ToxiproxySpec, parse_toxiproxy_spec
from cachecheck._errors import ProvisionError
from cachecheck._reaper import reaper
from cachecheck._redis_server import free_port

from ._client import ToxiproxyClient
from ._server import EmbeddedToxiproxy

DEFAULT_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
BINARY_NAME = "toxiproxy-server"


@dataclass
class ToxiproxyHandle:
    """A running Toxiproxy API (of any kind) and a client for it. `stop()` ends what cachecheck
    started; a user-run server (`url`) is left alone."""

    kind: str  # "embedded", "binary", "docker" or "url"
    api_url: str
    owned: bool
    client: ToxiproxyClient
    embedded: EmbeddedToxiproxy | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server if cachecheck started it. Safe to call twice."""
        self.client.close()
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def reseed(self, seed: int | None) -> bool:
        """Re-seed the embedded server's generator; False for servers that cannot be seeded
        (real Toxiproxy ignores its -seed flag since 2.9)."""
        if self.embedded is None:
            return False
        self.embedded.reseed(seed)
        return True

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "api_url": self.api_url, "owned": self.owned, **self.detail}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_toxiproxy(
    spec: ToxiproxySpec | str = "auto", *, seed: int | None = 0, startup_timeout: float = 10.0
) -> ToxiproxyHandle:
    """Start (or connect to) the Toxiproxy API the spec names.

    Raises:
        ProvisionError: the server cannot be started or does not answer `/version` in time.
    """
    spec = parse_toxiproxy_spec(spec) if isinstance(spec, str) else spec
    kind = spec.kind
    if kind is ProxyProviderKind.AUTO:
        found = shutil.which(BINARY_NAME)
        return _binary(found, startup_timeout) if found else _embedded(seed, startup_timeout)
    if kind is ProxyProviderKind.EMBEDDED:
        return _embedded(seed, startup_timeout)
    if kind is ProxyProviderKind.BINARY:
        return _binary(_find_binary(spec.argument), startup_timeout)
    if kind is ProxyProviderKind.DOCKER:
        return _docker(spec.argument or DEFAULT_IMAGE, startup_timeout)
    assert spec.argument is not None
    return _url(spec.argument, startup_timeout)


def _embedded(seed: int | None, timeout: float) -> ToxiproxyHandle:
    server = EmbeddedToxiproxy(seed=seed).start(timeout)
    client = ToxiproxyClient(server.api_url)
    return ToxiproxyHandle(
        "embedded", server.api_url, True, client, server, {"seed": seed}, server.stop
    )


def _find_binary(path: str | None) -> str:
    found = shutil.which(path or BINARY_NAME)
    if found is None:
        raise ProvisionError(
            f"--cachecheck-toxiproxy=binary: {path or BINARY_NAME} not found. Install Toxiproxy "
            "(its release archive, or the Linux package's /usr/bin/toxiproxy-server), pass "
            "binary:/path/to/toxiproxy-server, or use --cachecheck-toxiproxy=embedded"
        )
    return found


def _binary(path: str, timeout: float) -> ToxiproxyHandle:
    """Run the real binary on 127.0.0.1 and a free port; retry if the port was taken."""
    last: ProvisionError | None = None
    for _ in range(3):
        try:
            return _launch_binary(path, timeout)
        except ProvisionError as exc:
            last = exc
            if "address already in use" not in str(exc).lower():
                break
    assert last is not None
    raise last


def start_embedded_process(
    *, seed: int | None = 0, startup_timeout: float = 10.0
) -> ToxiproxyHandle:
    """The embedded server in a child process (`cachecheck toxiproxy`), tracked by the reaper.

    Same server as `EmbeddedToxiproxy`, but its event loop does not share the test process's
    GIL: an in-process proxy thread and the test thread take turns on every packet, which
    roughly halves the throughput of a busy test. The plugin's session proxy uses this.
    """
    command = [sys.executable, "-m", "cachecheck.cli", "toxiproxy", "--host", "127.0.0.1",
               "--seed", str(seed or 0), "--port"]  # fmt: skip
    last: ProvisionError | None = None
    for _ in range(3):
        try:
            handle = _launch(command, startup_timeout, kind="embedded")
            handle.detail["process"] = True
            handle.detail["seed"] = seed
            return handle
        except ProvisionError as exc:
            last = exc
            if "address already in use" not in str(exc).lower():
                break
    assert last is not None
    raise last


def _launch_binary(path: str, timeout: float) -> ToxiproxyHandle:
    handle = _launch([path, "-host", "127.0.0.1", "-port"], timeout, kind="binary")
    handle.detail["binary"] = path
    return handle


def _launch(command: list[str], timeout: float, *, kind: str) -> ToxiproxyHandle:
    """Start `command` + a free port number; wait for /version."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cachecheck-toxiproxy-")
    reaper().track_dir(workdir)
    log_path = Path(workdir) / "toxiproxy.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C is ours to handle
        )
    reaper().track_process(process.pid)

    def stop() -> None:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        reaper().untrack_process(process.pid)
        shutil.rmtree(workdir, ignore_errors=True)
        reaper().untrack_dir(workdir)

    url = f"http://127.0.0.1:{port}"
    client = ToxiproxyClient(url, timeout=2.0)
    try:
        _wait_ready(client, timeout, process.poll, lambda: _tail(log_path))
    except ProvisionError:
        stop()
        raise
    client.timeout = 10.0
    return ToxiproxyHandle(kind, url, True, client, None, {"pid": process.pid}, stop)


def _docker(image: str, timeout: float) -> ToxiproxyHandle:
    """The real server in a container with host networking, so that it reaches servers on the
    host's loopback and its proxies listen there (Linux Docker engines only)."""
    from cachecheck._providers import docker_engine

    engine = docker_engine()
    if not engine.usable:
        raise ProvisionError(
            f"--cachecheck-toxiproxy=docker: {engine.detail}. Start a Docker engine, or use "
            "--cachecheck-toxiproxy=embedded (no Docker needed)"
        )
    try:
        from testcontainers.core.container import DockerContainer
    except ImportError:
        raise ProvisionError(
            "--cachecheck-toxiproxy=docker needs testcontainers: "
            "pip install 'pytest-cachecheck[docker]'"
        ) from None
    port = free_port()
    container = DockerContainer(image).with_kwargs(network_mode="host")
    container = container.with_command(f"-host=127.0.0.1 -port={port}")
    container.start()
    url = f"http://127.0.0.1:{port}"
    client = ToxiproxyClient(url, timeout=2.0)
    try:
        _wait_ready(client, timeout, lambda: None, lambda: "(see the container's logs)")
    except ProvisionError:
        container.stop()
        raise
    client.timeout = 10.0
    return ToxiproxyHandle("docker", url, True, client, None, {"image": image}, container.stop)


def _url(url: str, timeout: float) -> ToxiproxyHandle:
    client = ToxiproxyClient(url, timeout=2.0)
    _wait_ready(client, timeout, lambda: None, lambda: "")
    client.timeout = 10.0
    return ToxiproxyHandle("url", url, False, client, None, {}, None)


def _wait_ready(
    client: ToxiproxyClient,
    timeout: float,
    exited: Callable[[], int | None],
    log: Callable[[], str],
) -> None:
    """Poll `/version` every 20 ms until it answers; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        code = exited()
        if code is not None:
            raise ProvisionError(
                f"Toxiproxy at {client.api_url} exited with code {code} while starting:\n{log()}"
            )
        if client.answers():
            return
        if time.monotonic() > deadline:
            raise ProvisionError(
                f"Toxiproxy at {client.api_url} did not answer GET /version within {timeout}s"
                f" (raise the startup timeout on a slow machine):\n{log()}"
            )
        time.sleep(0.02)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "(empty log)"
