"""Servers started by a test run die with it: at the end of the session, on Ctrl-C, and when
the pytest process itself is SIGKILLed (the reaper's pipe closes and it kills them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cachecheck._redis_server import pid_alive

# Generous: on a loaded 2-core machine a Python start plus a server start can take seconds.
STARTUP_DEADLINE = 60.0
# The reaper reacts to EOF at once; this bounds scheduling delays, not the mechanism.
DEATH_DEADLINE = 10.0

INNER_TEST = """
import json, os, time

def test_hold(cachecheck_redis_server):
    info = {{"pid": cachecheck_redis_server.pid, "dir": str(cachecheck_redis_server.data_dir)}}
    with open({marker!r} + ".tmp", "w") as f:
        json.dump(info, f)
    os.rename({marker!r} + ".tmp", {marker!r})
    time.sleep({hold})
"""


def _start_inner(tmp_path: Path, hold: float) -> tuple[subprocess.Popen[bytes], Path]:
    marker = tmp_path / "server.json"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST.format(marker=str(marker), hold=hold))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:valkey",
            str(test_file),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, marker


def _wait_for_marker(process: subprocess.Popen[bytes], marker: Path) -> dict[str, object]:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not marker.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"inner pytest exited early:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("inner pytest never started its server")
        time.sleep(0.05)
    info: dict[str, object] = json.loads(marker.read_text())
    return info


def _wait_dead(pid: int) -> bool:
    deadline = time.monotonic() + DEATH_DEADLINE
    while time.monotonic() < deadline:
        if not pid_alive(pid) or _is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


def _assert_gone(info: dict[str, object]) -> None:
    pid = info["pid"]
    assert isinstance(pid, int)
    assert _wait_dead(pid), f"server pid {pid} still alive"
    deadline = time.monotonic() + DEATH_DEADLINE
    while Path(str(info["dir"])).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(str(info["dir"])).exists(), "server data dir left behind"


@pytest.mark.slow
def test_server_is_gone_after_a_normal_session(tmp_path: Path) -> None:
    process, marker = _start_inner(tmp_path, hold=0)
    assert process.wait(timeout=STARTUP_DEADLINE) == 0
    _assert_gone(json.loads(marker.read_text()))


@pytest.mark.slow
def test_server_is_gone_after_ctrl_c(tmp_path: Path) -> None:
    process, marker = _start_inner(tmp_path, hold=120)
    info = _wait_for_marker(process, marker)
    os.kill(process.pid, signal.SIGINT)
    process.wait(timeout=STARTUP_DEADLINE)
    _assert_gone(info)


@pytest.mark.slow
def test_server_is_gone_after_pytest_is_sigkilled(tmp_path: Path) -> None:
    process, marker = _start_inner(tmp_path, hold=120)
    info = _wait_for_marker(process, marker)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=STARTUP_DEADLINE)
    _assert_gone(info)
