"""CacheSuite from the outside (pytester): a correct cache passes, a buggy one fails with its
shrunk counterexample, checks the cache cannot take are skipped with their reasons, and a
decorator-style cache plugs in through FunctionSubject."""

from __future__ import annotations

import pytest
from caches import HEADER

pytest_plugins = ["pytester"]

INNER = ["-p", "no:valkey", "-p", "no:cacheprovider", "-rs"]


def test_a_correct_cache_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_tiny=HEADER
        + """
class TestTiny(CacheSuite):
    contract = CONTRACT
    settings = FAST
    runner_config = RunnerConfig(clients=2, duration=0.3)
    checks = ("stateful_model", "concurrent_clients")

    def make_subject(self, world):
        return Tiny(world)
"""
    )
    result = pytester.runpytest_inprocess(*INNER, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*TestTiny::test_cachecheck?stateful_model? PASSED*"])


def test_a_buggy_cache_fails_with_the_shrunk_counterexample(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_buggy=HEADER
        + """
class TestNeverInvalidates(CacheSuite):
    contract = CONTRACT
    settings = FAST
    checks = ("stateful_model",)

    def make_subject(self, world):
        return NeverInvalidates(world)
"""
    )
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cachecheck stateful_model failed for 'tiny'",
            "tiny broke its contract:",
            "*Counterexample (* step*, shrunk):",
            "state = CacheModel[[]tiny[]]()",
            "state.*(*)",
            "state.teardown()",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_missing_capabilities_are_skipped_with_their_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_caps=HEADER
        + """
class TestTiny(CacheSuite):
    contract = CONTRACT
    settings = FAST
    checks = ("drain_converges", "worker_crash")
    skip_checks = {"worker_crash": "our worker is tested elsewhere"}

    def make_subject(self, world):
        return Tiny(world)
"""
    )
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED*drain_converges: the subject has no drain(timeout) method*",
            "SKIPPED*worker_crash: skipped by the suite: our worker is tested elsewhere",
        ]
    )


def test_a_decorator_style_cache_plugs_in_through_function_subject(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_decorated=HEADER
        + '''
import functools


def cached(redis, prefix):
    """A typical @cached decorator around a loader, with an invalidate() helper."""

    def decorate(load):
        @functools.wraps(load)
        def get(key):
            hit = redis.get(prefix + key)
            if hit is not None:
                return None if hit == "-" else hit
            value = load(key)
            redis.set(prefix + key, "-" if value is None else value, nx=True, ex=30)
            return value

        get.invalidate = lambda key: redis.delete(prefix + key)
        return get

    return decorate


class TestDecorated(CacheSuite):
    # A textbook @cached: a fill can race an invalidation (stale until the TTL), so it
    # promises bounded staleness, not convergence.
    contract = Contract(name="decorated", converges=False, staleness_bound=60,
                        ttl=TtlPolicy(max_seconds=60))
    settings = FAST
    checks = ("stateful_model",)

    def make_subject(self, world):
        get_user = cached(world.client(), world.namespace + "user:")(world.database.read)

        def update_user(key, value):
            world.database.write(key, value)
            get_user.invalidate(key)

        return FunctionSubject(read=get_user, write=update_user)
'''
    )
    pytester.runpytest_inprocess(*INNER).assert_outcomes(passed=1)


def test_a_suite_without_a_contract_is_a_clear_collection_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_nocontract=HEADER
        + """
class TestNoContract(CacheSuite):
    def make_subject(self, world):
        return Tiny(world)
"""
    )
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TestNoContract.contract must be a cachecheck.Contract*"])
