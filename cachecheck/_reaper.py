"""A watchdog process that kills what cachecheck started when the test process dies.

The test process holds the write end of a pipe; the watchdog reads the other end. Whatever way
the test process ends (normal exit, Ctrl-C, SIGKILL), the kernel closes the pipe, the watchdog
reads EOF, SIGKILLs every process it was told about and removes their temporary directories.
A pipe needs no polling and works on Linux and macOS alike.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading

_WATCHDOG_SOURCE = r"""
import os, shutil, signal, sys
pids, dirs = set(), set()
for line in sys.stdin:
    op, _, arg = line.rstrip("\n").partition(" ")
    if op == "+p": pids.add(int(arg))
    elif op == "-p": pids.discard(int(arg))
    elif op == "+d": dirs.add(arg)
    elif op == "-d": dirs.discard(arg)
for pid in pids:
    for sig in (signal.SIGKILL,):
        try: os.kill(pid, sig)
        except OSError: pass
for pid in pids:
    try: os.waitpid(pid, 0)
    except OSError: pass
if pids:
    import time
    time.sleep(0.2)  # let the kernel release files before removing their directories
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


class Reaper:
    """Tracks processes and directories to destroy if this process dies without cleaning up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._owner_pid = os.getpid()

    @property
    def watchdog_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def track_process(self, pid: int) -> None:
        self._send(f"+p {pid}")

    def untrack_process(self, pid: int) -> None:
        self._send(f"-p {pid}")

    def track_dir(self, path: str) -> None:
        self._send(f"+d {path}")

    def untrack_dir(self, path: str) -> None:
        self._send(f"-d {path}")

    def _send(self, line: str) -> None:
        with self._lock:
            process = self._ensure_started()
            assert process.stdin is not None
            process.stdin.write(line + "\n")
            process.stdin.flush()

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._owner_pid != os.getpid():
            # A forked child must not share the parent's watchdog pipe.
            self._process = None
            self._owner_pid = os.getpid()
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-S", "-c", _WATCHDOG_SOURCE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                # Own session: Ctrl-C in the terminal must not kill the watchdog first.
                start_new_session=True,
                close_fds=True,
            )
        return self._process


_reaper = Reaper()


def reaper() -> Reaper:
    """The process-wide reaper."""
    return _reaper


@atexit.register
def _close_watchdog_pipe() -> None:
    # Closing the pipe at a clean exit lets the watchdog reap anything still tracked. Waiting
    # for it (it exits at once when nothing is left) keeps Python from warning at shutdown
    # that a child is still running.
    process = _reaper._process
    if process is not None and process.stdin is not None and _reaper._owner_pid == os.getpid():
        with contextlib.suppress(OSError):
            process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)
