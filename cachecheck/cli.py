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
    _add_run(commands)
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


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="check every reference strategy (or your cache) and write a report",
        description="Run the stateful model, the concurrent runner and the crash checks on every "
        "reference strategy (or on --target) against a Redis server and a SQLite database "
        "cachecheck starts itself; write report.json, report.html and summary.md. "
        "Exit code: 0 all passed, 1 violations or errors, 2 usage or configuration errors.",
    )
    run.add_argument(
        "--target",
        metavar="MODULE:FACTORY",
        help="check your cache instead: a callable taking the World and returning a subject; "
        "its contract is the subject's or factory's `contract` attribute or the module's "
        "CONTRACT",
    )
    run.add_argument(
        "--profile",
        choices=("quick", "ci", "thorough"),
        default="quick",
        help="how hard to try (quick: about a minute). Default: %(default)s",
    )
    run.add_argument(
        "--report",
        metavar="DIR",
        default="cachecheck-report",
        help="where to write the report. Default: %(default)s",
    )
    run.add_argument("--no-report", action="store_true", help="do not write a report")
    run.add_argument(
        "--seed", type=int, default=0, help="seed of every random choice. Default: %(default)s"
    )
    run.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this reference strategy (repeatable)",
    )
    run.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this check, e.g. stateful_model (repeatable)",
    )
    run.add_argument(
        "--no-proxy", action="store_true", help="connect directly, without the fault proxy"
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cachecheck._run import PROFILES, RunRequest, run_command

    if args.target and args.strategy:
        print("cachecheck: error: use either --target or --strategy, not both", file=sys.stderr)
        return 2
    request = RunRequest(
        profile=PROFILES[args.profile],
        target=args.target,
        report_dir=None if args.no_report else Path(args.report),
        seed=args.seed,
        strategies=tuple(args.strategy),
        checks=tuple(args.check),
        proxy=not args.no_proxy,
    )
    return run_command(request, sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
