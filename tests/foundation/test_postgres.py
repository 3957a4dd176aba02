"""The source of truth on a real PostgreSQL server, started by the test itself when the
machine has PostgreSQL's server binaries; skipped with the reason otherwise."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from cachecheck._database import Database
from cachecheck._redis_server import free_port


def _initdb() -> str | None:
    found = shutil.which("initdb")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return candidates[-1] if candidates else None


def _as_user_prefix() -> list[str] | None:
    """PostgreSQL refuses to run as root: run it as the 'postgres' user when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return [runuser, "-u", "postgres", "--"] if runuser else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')"
    )
    initdb = _initdb()
    prefix = _as_user_prefix()
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    if prefix is None:
        pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
    bindir = os.path.dirname(initdb)
    root = tempfile.mkdtemp(prefix="cachecheck-pg-")
    data = os.path.join(root, "data")
    if prefix:
        shutil.chown(root, user="postgres")
    port = free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", data, "-A", "trust", "-U", "cachecheck"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = subprocess.Popen(
            [
                *prefix,
                os.path.join(bindir, "postgres"),
                "-D",
                data,
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
                root,
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc}")
    from cachecheck._reaper import reaper

    reaper().track_process(server.pid)
    url = f"postgresql+psycopg://cachecheck@127.0.0.1:{port}/postgres"
    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        reaper().untrack_process(server.pid)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.skip(f"PostgreSQL exited with code {server.returncode}")
            try:
                with engine.connect():
                    return
            except sqlalchemy.exc.OperationalError:
                time.sleep(0.1)
        pytest.skip("PostgreSQL did not accept connections within 60 s")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_versions_commit_log_and_cleanup_on_postgres(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        assert database.describe()["dialect"] == "postgresql"
        assert database.write("k", "a") == 1
        assert database.delete("k") == 2
        assert database.apply_if_newer("k", "c", 7)
        assert not database.apply_if_newer("k", "b", 6)
        assert [(c.version, c.value) for c in database.commits()] == [(1, "a"), (2, None), (7, "c")]
    finally:
        database.close()
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        assert not [
            t for t in sqlalchemy.inspect(engine).get_table_names() if t.startswith("cachecheck_")
        ]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_writers_serialize_on_postgres(postgres_url: str) -> None:
    database = Database(postgres_url)
    versions: list[int] = []
    lock = threading.Lock()

    def writer(name: str) -> None:
        for i in range(20):
            version = database.write("hot", f"{name}-{i}")
            with lock:
                versions.append(version)

    try:
        threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(versions) == list(range(1, 81))
    finally:
        database.close()
