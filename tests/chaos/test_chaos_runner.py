"""A Hypothesis-style fault schedule played by the concurrent runner, through the proxy."""

from __future__ import annotations

from cachecheck._contract import Contract
from cachecheck._runner import RunnerConfig, run_concurrent
from cachecheck._world import World
from cachecheck.chaos import (
    Down,
    FaultSchedule,
    Latency,
    ScheduledFault,
    ToxiproxyClient,
    attach_proxy,
    for_runner,
    proxy_redis,
    start_toxiproxy,
)

CONTRACT = Contract(name="chaos-runner", staleness_bound=None)


class ReadsThroughRedis:
    """Touches Redis (through the proxy) on every read, then reads the database."""

    def __init__(self, world: World) -> None:
        self.redis = world.client()
        self.db = world.database
        self.key = world.namespace + "touch"

    def get(self, key: str) -> str | None:
        self.redis.exists(self.key)
        return self.db.read(key)

    def set(self, key: str, value: str) -> None:
        self.db.write(key, value)

    def delete(self, key: str) -> None:
        self.db.delete(key)


def test_runner_plays_a_fault_schedule_and_heals(
    toxiproxy: ToxiproxyClient, cachecheck_world: World
) -> None:
    with start_toxiproxy("embedded") as handle:
        proxy = proxy_redis(handle, cachecheck_world.redis_server)
        attach_proxy(cachecheck_world, proxy)
        schedule = FaultSchedule(
            (
                ScheduledFault(50, 100, Latency(20)),
                ScheduledFault(200, 150, Down()),
            )
        )
        plan = for_runner(schedule)
        config = RunnerConfig(clients=2, duration=0.6, seed=4, faults=plan.faults, heal=plan.heal)
        outcome = run_concurrent(cachecheck_world, ReadsThroughRedis, CONTRACT, config)
        assert outcome.faults_applied == [
            "fault.start Latency(ms=20)",
            "fault.stop Latency(ms=20)",
            "fault.start Down()",
            "fault.stop Down()",
        ]
        assert outcome.client_errors  # Down() refused the clients for a while
        assert proxy.refresh().enabled and proxy.toxics() == []

        # A run stopped before a fault's end: `heal` lifts what is still active.
        plan = for_runner(FaultSchedule((ScheduledFault(0, 10_000, Latency(1)),)))
        plan.faults[0].action(cachecheck_world)
        assert [t.name for t in proxy.toxics()] == ["latency_downstream"]
        plan.heal(cachecheck_world)
        assert proxy.toxics() == []
        cachecheck_world.close_clients()
