"""Command line: `asyncchat serve` builds a ServerConfig and runs the daemon."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__, loop
from .config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the chat daemon",
        description="Run the chat daemon. Users join with `asyncchat join NAME`, nc or telnet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = ServerConfig()
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (0.0.0.0 for all interfaces)"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0 picks a free one)"
    )
    serve.add_argument(
        "--max-line",
        type=int,
        default=defaults.max_line,
        help="longest accepted line in bytes; longer lines are refused with an error",
    )
    serve.add_argument(
        "--max-clients",
        type=int,
        default=defaults.max_clients,
        help="connections at once; one more is told the server is full",
    )
    serve.add_argument(
        "--register-timeout",
        type=float,
        default=defaults.register_timeout,
        help="seconds a new connection has to give a valid name",
    )
    serve.add_argument(
        "--max-sendq",
        type=int,
        default=defaults.max_sendq,
        help="bytes of unsent output per client before it is cut off as too slow",
    )
    serve.add_argument(
        "--rate",
        type=float,
        default=defaults.rate,
        help="lines per second per client before reading pauses (0 = no limit)",
    )
    serve.add_argument(
        "--burst",
        type=int,
        default=defaults.burst,
        help="lines a client may send at once before --rate applies",
    )
    serve.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="how much to log to stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncchat", description=__doc__)
    parser.add_argument("--version", action="version", version=f"asyncchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(commands)
    return parser


def server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        max_line=args.max_line,
        max_clients=args.max_clients,
        register_timeout=args.register_timeout,
        max_sendq=args.max_sendq,
        rate=args.rate,
        burst=args.burst,
        log_level=args.log_level,
    )


def _run_server(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .server import serve

    try:
        config = server_config(args)
    except ValueError as problem:
        parser.error(str(problem))
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        loop.run(serve(config))
    except OSError as problem:
        logging.getLogger("asyncchat").error(
            "cannot listen on %s:%d: %s", config.host, config.port, problem.strerror or problem
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _run_server(parser, args)
    parser.error(f"unknown command {args.command!r}")
    return 2
