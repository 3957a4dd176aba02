"""The `cachecheck` command line: doctor, run, toxiproxy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cachecheck._errors import CachecheckError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except CachecheckError as exc:
        print(f"cachecheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cachecheck: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachecheck",
        description="Find correctness bugs in cache layers against real Redis and SQL.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="show what cachecheck found and what it will use")
    doctor.add_argument(
        "--smoke",
        action="store_true",
        help="also start the world that 'auto' picks and exercise it once",
    )
    doctor.set_defaults(handler=_doctor)
    proxy = commands.add_parser(
        "toxiproxy", help="serve the embedded Toxiproxy-compatible API (any Toxiproxy client)"
    )
    proxy.add_argument("--host", default="127.0.0.1", help="API address (default: loopback)")
    proxy.add_argument("--port", type=int, default=8474, help="API port (default: 8474)")
    proxy.add_argument("--seed", type=int, default=0, help="seed of jitter and toxicity rolls")
    proxy.set_defaults(handler=_toxiproxy)
    return parser


def _doctor(args: argparse.Namespace) -> int:
    from cachecheck._doctor import run_doctor

    return run_doctor(smoke=bool(args.smoke), out=sys.stdout)


def _toxiproxy(args: argparse.Namespace) -> int:
    from cachecheck.chaos import serve

    if not 0 <= args.port <= 65535:
        print(f"cachecheck toxiproxy: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    serve(args.host, args.port, args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
