"""Choosing the fault proxy: embedded, auto, binary (driven here with a stand-in
`toxiproxy-server` executable that runs the embedded server, since no real binary is
installed), docker (needs an engine) and a user-run URL. All go through one client."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from cachecheck._errors import ProvisionError
from cachecheck._providers import docker_engine
from cachecheck._redis_server import pid_alive
from cachecheck.chaos import EmbeddedToxiproxy, start_toxiproxy

# Accepts the real binary's flags (-host, -port) and serves the same API.
STAND_IN = """#!{python}
import sys
from cachecheck.chaos import serve
args = sys.argv[1:]
serve(args[args.index("-host") + 1], int(args[args.index("-port") + 1]), on_ready=print)
"""


def make_binary(folder: Path, source: str) -> Path:
    path = folder / "toxiproxy-server"
    path.write_text(source.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_embedded_server_is_seeded_and_stops() -> None:
    handle = start_toxiproxy("embedded", seed=3)
    assert (handle.kind, handle.owned) == ("embedded", True)
    assert handle.client.version() == "2.12.0"
    assert handle.reseed(4) is True
    handle.stop()
    assert not handle.client.answers()


def test_auto_prefers_a_binary_on_path_else_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with start_toxiproxy("auto") as handle:
        assert handle.kind == "embedded"
    make_binary(tmp_path, STAND_IN)
    with start_toxiproxy("auto") as handle:
        assert handle.kind == "binary"


def test_binary_runs_on_loopback_and_dies_with_stop(tmp_path: Path) -> None:
    binary = make_binary(tmp_path, STAND_IN)
    handle = start_toxiproxy(f"binary:{binary}")
    pid = handle.detail["pid"]
    assert handle.api_url.startswith("http://127.0.0.1:") and handle.reseed(1) is False
    proxy = handle.client.create_proxy("p", "127.0.0.1:9")
    assert handle.client.proxies()["p"].listen == proxy.listen
    handle.stop()
    assert not pid_alive(pid)


def test_binary_that_exits_reports_its_log(tmp_path: Path) -> None:
    binary = make_binary(tmp_path, "#!{python}\nprint('cannot start')\nraise SystemExit(3)\n")
    with pytest.raises(ProvisionError, match=r"exited with code 3(.|\n)*cannot start"):
        start_toxiproxy(f"binary:{binary}")


def test_missing_binary_says_how_to_fix_it() -> None:
    with pytest.raises(ProvisionError, match=r"not found.*embedded"):
        start_toxiproxy("binary:/nonexistent/toxiproxy-server")


def test_url_server_is_used_but_never_stopped() -> None:
    with EmbeddedToxiproxy() as server:
        handle = start_toxiproxy(server.api_url)
        assert (handle.kind, handle.owned) == ("url", False)
        handle.stop()
        assert server.running and handle.client.answers()


def test_url_with_nothing_listening_fails_in_time() -> None:
    with pytest.raises(ProvisionError, match="did not answer"):
        start_toxiproxy("http://127.0.0.1:9", startup_timeout=0.3)


def test_without_an_engine_the_docker_kind_says_so() -> None:
    engine = docker_engine()
    if engine.usable:
        pytest.skip("a Docker engine answers here; the no-engine message cannot be observed")
    with pytest.raises(ProvisionError, match=r"Docker engine.*embedded"):
        start_toxiproxy("docker")


@pytest.mark.docker
def test_toxiproxy_in_a_container() -> None:
    engine = docker_engine()
    if not engine.usable:
        pytest.skip(f"needs a Docker engine: {engine.detail}")
    with start_toxiproxy("docker") as handle:
        assert handle.kind == "docker"
        assert handle.client.version().startswith("2.")
