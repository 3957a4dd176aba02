"""Redis/Valkey servers: ones cachecheck starts (binary), and ones the user runs (URL).

A started server binds to 127.0.0.1 on a free port, keeps its files in its own temporary
directory, and is killed by the reaper if the test process dies without stopping it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cachecheck._config import PersistenceSpec
from cachecheck._errors import ProvisionError
from cachecheck._reaper import reaper

_VERSION_RE = re.compile(r"^(Redis|Valkey|KeyDB) server v=(\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How to start a server."""

    persistence: PersistenceSpec = field(default_factory=PersistenceSpec)
    maxmemory: str | None = None
    maxmemory_policy: str | None = None
    startup_timeout: float = 10.0
    extra_args: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "persistence": self.persistence.describe(),
            "maxmemory": self.maxmemory,
            "maxmemory_policy": self.maxmemory_policy,
        }


@runtime_checkable
class RedisHandle(Protocol):
    """What every Redis provider gives the framework."""

    @property
    def url(self) -> str: ...

    @property
    def owned(self) -> bool:
        """True when cachecheck started this server and may destroy its data."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


def probe_binary(path: str) -> tuple[str, str]:
    """Return (flavour, version) of a server binary, e.g. ("valkey", "9.1.2")."""
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"cannot run {path} --version: {exc}") from None
    match = _VERSION_RE.match(result.stdout.strip())
    if match is None:
        raise ProvisionError(
            f"{path} does not look like a Redis or Valkey server; --version printed "
            f"{result.stdout.strip()[:200]!r}"
        )
    return match.group(1).lower(), match.group(2)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A Redis or Valkey server process started by cachecheck.

    Fault controls act on the real process: `kill()` is SIGKILL (no shutdown save), `pause()`
    and `resume()` are SIGSTOP/SIGCONT, `restart()` starts it again on the same port with the
    same data directory, so persistence decides what survives.
    """

    host = "127.0.0.1"

    def __init__(
        self, binary: str, options: ServerOptions | None = None, *, source: str = "binary"
    ) -> None:
        self.binary = binary
        self.options = options or ServerOptions()
        self.source = source
        self.flavour, self.version = probe_binary(binary)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._data_dir: str | None = None
        self.starts = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> RedisServer:
        if self._process is not None:
            raise ProvisionError(f"server on port {self.port} is already running")
        self._data_dir = tempfile.mkdtemp(prefix="cachecheck-redis-")
        reaper().track_dir(self._data_dir)
        last_error: ProvisionError | None = None
        for _ in range(3):  # a free port can be taken between probing and binding
            self.port = free_port(self.host)
            try:
                self._launch()
                return self
            except ProvisionError as exc:
                last_error = exc
                if "Address already in use" not in str(exc):
                    break
        self._remove_data_dir()
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the server and delete its data directory. Safe to call twice."""
        self._terminate()
        self._remove_data_dir()

    def kill(self) -> None:
        """SIGKILL the server: whatever was not persisted is lost."""
        process = self._require_process("kill")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        reaper().untrack_process(process.pid)
        self._process = None
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections open but answers nothing."""
        self._require_process("pause").send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._require_process("resume").send_signal(signal.SIGCONT)
        self._paused = False

    def restart(self) -> None:
        """Start again on the same port and data directory (after `kill()` or `stop`-less crash)."""
        if self._process is not None:
            self.kill()
        if self._data_dir is None:
            raise ProvisionError("restart() needs a server that was started once")
        self._launch()

    # -- facts ----------------------------------------------------------------------------

    @property
    def owned(self) -> bool:
        return True

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise ProvisionError("the server has not been started")
        return Path(self._data_dir)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "binary": self.binary,
            "flavour": self.flavour,
            "version": self.version,
            "url": self.url,
            "owned": True,
            **self.options.describe(),
        }

    def __repr__(self) -> str:
        state = "paused" if self._paused else ("running" if self.running else "stopped")
        return f"<RedisServer {self.flavour} {self.version} {self.url} {state}>"

    # -- internals -------------------------------------------------------------------------

    def _command(self) -> list[str]:
        opts = self.options
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--protected-mode",
            "yes",
            "--dir",
            str(self._data_dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--loglevel",
            "warning",
            "--databases",
            "16",
            "--appendfilename",
            "appendonly.aof",
            "--dbfilename",
            "dump.rdb",
            *opts.persistence.server_args(),
        ]
        if opts.maxmemory:
            command += ["--maxmemory", opts.maxmemory]
        if opts.maxmemory_policy:
            command += ["--maxmemory-policy", opts.maxmemory_policy]
        return command + list(opts.extra_args)

    def _launch(self) -> None:
        log_path = Path(str(self._data_dir)) / "server.log"
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._data_dir,
                start_new_session=True,  # Ctrl-C is handled by us, not delivered to the server
            )
        reaper().track_process(self._process.pid)
        self._paused = False
        try:
            self._wait_ready(log_path)
        except ProvisionError:
            self._terminate()
            raise
        self.starts += 1

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.options.startup_timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ProvisionError(
                    f"{self.flavour}-server exited with code {self._process.returncode} while "
                    f"starting on port {self.port}:\n{_tail(log_path)}"
                )
            if _answers_ping(self.host, self.port):
                return
            time.sleep(0.005)
        raise ProvisionError(
            f"{self.flavour}-server did not answer PING within {self.options.startup_timeout}s "
            f"on port {self.port} (raise the startup timeout on a slow machine):\n{_tail(log_path)}"
        )

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            if self._paused:
                process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        reaper().untrack_process(process.pid)
        self._paused = False

    def _remove_data_dir(self) -> None:
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            reaper().untrack_dir(self._data_dir)
            self._data_dir = None

    def _require_process(self, action: str) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise ProvisionError(f"cannot {action}: the server on port {self.port} is not running")
        return self._process


def _answers_ping(host: str, port: int) -> bool:
    """True when the server answers PING with PONG (not LOADING, not refused)."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "(empty server log)"


class ExternalRedis:
    """A Redis server the user runs, named by URL. cachecheck never starts, stops or flushes it
    on its own: it only deletes the keys it wrote under its own prefix."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    @property
    def owned(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return {"source": "url", "url": _redact(self._url), "owned": False}

    def stop(self) -> None:
        """Nothing to stop: the user runs this server."""

    def __repr__(self) -> str:
        return f"<ExternalRedis {_redact(self._url)}>"


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
