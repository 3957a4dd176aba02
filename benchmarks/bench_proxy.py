"""Added latency of the fault proxy per Redis GET: direct vs through the proxy, same run.

Run: `python benchmarks/bench_proxy.py [--rounds 20] [--toxiproxy embedded|binary|URL]`

Measures single GETs and pipelines of 100 GETs on one connection each, interleaving the
targets round by round so that machine noise hits them alike. "Added" is the proxied figure
minus the direct one (medians and p99s). Targets:

- direct: the Redis server itself;
- proxy: no toxic on the link (the embedded server's fast path);
- proxy + toxic: a `latency 0` toxic on both streams, so every chunk goes through the toxic
  chain (the slow path; the real Toxiproxy always works this way).

The goal for the embedded server: added median per GET no worse than real Toxiproxy's ~70 us.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.retry import Retry

from cachecheck._config import parse_redis_spec
from cachecheck._providers import start_redis
from cachecheck.chaos import start_toxiproxy

BATCH = 200  # timed operations per target per round


def client_for(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),
        driver_info=DriverInfo(name=None, lib_version=None),
    )


def single_get(client: redis.Redis) -> Callable[[], object]:
    return lambda: client.get("bench:key")


def pipelined_gets(client: redis.Redis) -> Callable[[], object]:
    def run() -> object:
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.get("bench:key")
        return pipe.execute()

    return run


def timed(operation: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--toxiproxy", default="embedded", help="embedded, binary[:PATH] or URL")
    args = parser.parse_args()

    server = start_redis(parse_redis_spec("auto"))
    toxiproxy = start_toxiproxy(args.toxiproxy, seed=0)
    try:
        upstream = f"127.0.0.1:{server.url.rsplit(':', 1)[1].split('/')[0]}"
        plain = toxiproxy.client.create_proxy("bench", upstream)
        toxic = toxiproxy.client.create_proxy("bench_toxic", upstream)
        for stream in ("upstream", "downstream"):
            toxic.add_toxic("latency", stream=stream, latency=0)
        clients = {
            "direct": client_for(int(upstream.rsplit(":", 1)[1])),
            "proxy": client_for(plain.port),
            "proxy + toxic": client_for(toxic.port),
        }
        clients["direct"].set("bench:key", "x" * 32)
        report(run_rounds(clients, args.rounds), toxiproxy.kind)
    finally:
        toxiproxy.stop()
        server.stop()


def run_rounds(clients: dict[str, redis.Redis], rounds: int) -> dict[tuple[str, str], list[float]]:
    shapes = {"GET": single_get, "pipeline of 100 GETs": pipelined_gets}
    samples: dict[tuple[str, str], list[float]] = {}
    for name, client in clients.items():  # warm up: connect, fill caches
        for shape, make in shapes.items():
            timed(make(client), 50)
            samples[(shape, name)] = []
    for _ in range(rounds):
        for shape, make in shapes.items():
            count = BATCH if shape == "GET" else BATCH // 10
            for name, client in clients.items():
                samples[(shape, name)] += timed(make(client), count)
    return samples


def report(samples: dict[tuple[str, str], list[float]], kind: str) -> None:
    print(f"\nfault proxy: {kind}; times in microseconds")
    header = f"{'operation':<22}{'target':<15}{'n':>7}{'median':>10}{'p99':>10}"
    print(header + f"{'added median':>15}{'added p99':>12}")
    print("-" * (len(header) + 27))
    for shape, name in sorted(samples, key=lambda key: key[0] != "GET"):
        values = samples[(shape, name)]
        median, p99 = statistics.median(values) * 1e6, percentile(values, 0.99) * 1e6
        direct = samples[(shape, "direct")]
        added = ""
        if name != "direct":
            added_median = median - statistics.median(direct) * 1e6
            added_p99 = p99 - percentile(direct, 0.99) * 1e6
            added = f"{added_median:>15.1f}{added_p99:>12.1f}"
        print(f"{shape:<22}{name:<15}{len(values):>7}{median:>10.1f}{p99:>10.1f}{added}")


if __name__ == "__main__":
    main()
