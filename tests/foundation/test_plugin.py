"""The plugin's options, ini keys and environment variables, and its fixtures in a real run."""

from __future__ import annotations

import pytest

from cachecheck._settings import SETTINGS

pytest_plugins = ["pytester"]

BAD_VALUES = {
    "redis": "podman",
    "redis-persistence": "aof:sometimes",
    "redis-maxmemory": "lots",
    "redis-maxmemory-policy": "lru",
    "startup-timeout": "-1",
    "socket-timeout": "zero",
    "connect-timeout": "0",
    "retries": "-1",
    "redis-protocol": "4",
    "db": "not a url",
    "toxiproxy": "toxi",
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_option_value_is_a_usage_error_naming_it(pytester: pytest.Pytester, name: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess(
        "-p", "no:valkey", f"--cachecheck-{name}={BAD_VALUES[name]}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*cachecheck*--cachecheck-{name}*"])


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_environment_value_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    setting = next(s for s in SETTINGS if s.name == name)
    monkeypatch.setenv(setting.env, BAD_VALUES[name])
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("-p", "no:valkey")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ncachecheck_redis_persistence = aof:sometimes\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("-p", "no:valkey")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cachecheck-redis-persistence*aof:sometimes*"])


def test_option_beats_environment_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\ncachecheck_retries = 1\ncachecheck_socket_timeout = 2.5\n")
    monkeypatch.setenv("CACHECHECK_RETRIES", "2")
    pytester.makepyfile(
        """
        def test_settings(cachecheck_settings):
            assert cachecheck_settings.client.retries == 3
            assert cachecheck_settings.client.socket_timeout == 2.5
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:valkey", "--cachecheck-retries=3")
    result.assert_outcomes(passed=1)


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("-p", "no:valkey", "--fixtures")
    for name in (
        "cachecheck_world",
        "cachecheck_redis",
        "cachecheck_db",
        "cachecheck_redis_server",
    ):
        result.stdout.fnmatch_lines([f"*{name}*"])


def test_fixtures_give_a_working_world(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_world(cachecheck_world, cachecheck_redis, cachecheck_db):
            key = cachecheck_world.namespace + "k"
            cachecheck_redis.set(key, "v", px=1000)
            assert cachecheck_redis.get(key) == "v"
            assert cachecheck_db.write("k", "v") == 1

        def test_clean_slate(cachecheck_world, cachecheck_redis, cachecheck_db):
            assert cachecheck_redis.dbsize() == 0
            assert cachecheck_db.snapshot() == {}
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:valkey")
    result.assert_outcomes(passed=2)


def test_report_header_names_the_choices(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess(
        "-p", "no:valkey", "--cachecheck-redis-persistence=aof:always"
    )
    result.stdout.fnmatch_lines(["cachecheck: redis=auto persistence=aof:always*"])


def test_runs_under_xdist_with_a_server_per_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_port(cachecheck_redis_server, worker_id, n, tmp_path_factory):
            root = tmp_path_factory.getbasetemp().parent
            (root / f"{worker_id}-{n}").write_text(str(cachecheck_redis_server.port))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:valkey", "-n", "2")
    result.assert_outcomes(passed=4)
