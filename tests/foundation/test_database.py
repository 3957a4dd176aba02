"""The source of truth on a real SQLite database: versions, commit log, loads, hooks, safety."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cachecheck._clock import ManualClock
from cachecheck._database import Database, DatabaseUnavailable
from cachecheck._errors import UnsafeResetError


def test_versions_and_commit_log(cachecheck_db: Database) -> None:
    assert cachecheck_db.write("k", "a") == 1
    assert cachecheck_db.write("k", "b") == 2
    assert cachecheck_db.delete("k") == 3
    assert cachecheck_db.read("k") is None
    commits = cachecheck_db.commits()
    assert [(c.key, c.version, c.value) for c in commits] == [
        ("k", 1, "a"),
        ("k", 2, "b"),
        ("k", 3, None),
    ]
    times = [c.committed_at for c in commits]
    assert times == sorted(times)


def test_reads_are_counted_as_loads_and_peeks_are_not(cachecheck_db: Database) -> None:
    cachecheck_db.write("k", "a")
    cachecheck_db.read("k", client="c1")
    cachecheck_db.read("k", client="c2")
    cachecheck_db.peek_row("k")
    cachecheck_db.snapshot()
    assert cachecheck_db.load_counts()["k"] == 2
    assert [load.client for load in cachecheck_db.loads()] == ["c1", "c2"]


def test_apply_if_newer_is_idempotent_and_never_goes_back(cachecheck_db: Database) -> None:
    assert cachecheck_db.apply_if_newer("k", "v5", 5)
    assert not cachecheck_db.apply_if_newer("k", "v5", 5)
    assert not cachecheck_db.apply_if_newer("k", "v3", 3)
    assert cachecheck_db.apply_if_newer("k", None, 6)
    row = cachecheck_db.peek_row("k")
    assert row is not None and (row.value, row.version) == (None, 6)
    assert [c.version for c in cachecheck_db.commits()] == [5, 6]


def test_concurrent_writers_get_distinct_consecutive_versions(cachecheck_db: Database) -> None:
    versions: list[int] = []
    lock = threading.Lock()

    def writer(name: str) -> None:
        for i in range(25):
            version = cachecheck_db.write("hot", f"{name}-{i}")
            with lock:
                versions.append(version)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 101))
    assert [c.version for c in cachecheck_db.commits()] == list(range(1, 101))


def test_hooks_fail_and_slow_reads(cachecheck_db: Database) -> None:
    cachecheck_db.write("k", "a")
    cachecheck_db.hooks.fail_reads = True
    with pytest.raises(DatabaseUnavailable, match="fail_reads"):
        cachecheck_db.read("k")
    cachecheck_db.hooks.fail_reads = False
    cachecheck_db.hooks.fail_writes = True
    with pytest.raises(DatabaseUnavailable):
        cachecheck_db.write("k", "b")
    assert cachecheck_db.read("k") == "a"


def test_reset_empties_tables_loads_and_hooks(cachecheck_db: Database) -> None:
    cachecheck_db.write("k", "a")
    cachecheck_db.read("k")
    cachecheck_db.hooks.read_latency = 1.0
    cachecheck_db.reset()
    assert cachecheck_db.snapshot() == {}
    assert cachecheck_db.commits() == []
    assert cachecheck_db.loads() == []
    assert cachecheck_db.hooks.read_latency == 0.0


def test_commit_times_come_from_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock(100.0)
    database = Database(f"sqlite:///{tmp_path}/db.sqlite", clock=clock)
    try:
        database.write("k", "a")
        clock.advance(5)
        database.write("k", "b")
        assert [c.committed_at for c in database.commits()] == [100.0, 105.0]
    finally:
        database.close()


def test_a_user_database_keeps_its_own_tables(tmp_path: Path) -> None:
    path = tmp_path / "user.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO accounts (name) VALUES ('alice')")
    database = Database(f"sqlite:///{path}")
    database.write("k", "a")
    database.reset()
    database.close()
    with sqlite3.connect(path) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert tables == {"accounts"}
        assert conn.execute("SELECT name FROM accounts").fetchall() == [("alice",)]


def test_refuses_to_reuse_tables_it_did_not_create(tmp_path: Path) -> None:
    path = tmp_path / "user.sqlite"
    first = Database(f"sqlite:///{path}")
    taken = first.items.name
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {taken}_probe (x)")
    # Build a second handle that would collide with the first one's tables.
    import cachecheck._database as module

    counter = module._table_counter
    module._table_counter = iter([int(taken.split("_")[2])])  # type: ignore[assignment]
    try:
        with pytest.raises(UnsafeResetError, match="already exist"):
            Database(f"sqlite:///{path}")
    finally:
        module._table_counter = counter
        first.close()


def test_bad_url_is_a_clear_error() -> None:
    from cachecheck._errors import ProvisionError

    with pytest.raises(ProvisionError, match="nosuchdriver"):
        Database("nosuchdriver://x/y")


def test_local_commits_match_the_commit_log(cachecheck_db: Database) -> None:
    cachecheck_db.write("a", "1")
    cachecheck_db.delete("a")
    cachecheck_db.apply_if_newer("b", "x", 4)
    local = [(c.key, c.version, c.value) for c in cachecheck_db.local_commits()]
    logged = [(c.key, c.version, c.value) for c in cachecheck_db.commits()]
    assert local == logged == [("a", 1, "1"), ("a", 2, None), ("b", 4, "x")]
