"""Command line: `asyncchat serve` runs the daemon, `asyncchat join NAME` the client."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__, loop
from .config import DEFAULT_HOST, DEFAULT_PORT, ClientConfig, ServerConfig
from .store import StoreError, default_db_path


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
        "--db",
        default=str(default_db_path()),
        help="SQLite file for room history (':memory:' keeps history only while running)",
    )
    serve.add_argument(
        "--history",
        type=int,
        default=defaults.history,
        help="recent lines a user is shown on entering a room (0: none)",
    )
    serve.add_argument(
        "--history-keep",
        type=int,
        default=defaults.history_keep,
        help="lines kept per room in the database; older ones are pruned",
    )
    serve.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="how much to log to stderr",
    )


def _join_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    join = commands.add_parser(
        "join",
        help="chat as NAME",
        description=(
            "Chat as NAME. On a terminal: a full-screen-safe prompt with colours, "
            "history and Tab completion. With stdin piped: send its lines, print "
            "what arrives, and exit when everything was handled."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    join.add_argument("name", metavar="NAME", help="the name to chat under")
    join.add_argument("--host", default=DEFAULT_HOST, help="server address")
    join.add_argument("--port", type=int, default=DEFAULT_PORT, help="server port")
    join.add_argument(
        "--no-timestamps",
        dest="timestamps",
        action="store_false",
        help="do not show the local time before each line",
    )
    join.add_argument(
        "--no-color",
        dest="color",
        action="store_false",
        help="no colours (also when the NO_COLOR environment variable is set)",
    )
    join.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        help="exit (code 1) when the connection is lost instead of reconnecting",
    )
    join.add_argument(
        "--stay",
        action="store_true",
        help="piped mode: keep printing what arrives after stdin ends (for bots)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncchat", description=__doc__)
    parser.add_argument("--version", action="version", version=f"asyncchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(commands)
    _join_parser(commands)
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
        db=args.db,
        history=args.history,
        history_keep=args.history_keep,
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
    except StoreError as problem:
        logging.getLogger("asyncchat").error("%s", problem)
        return 1
    except OSError as problem:
        logging.getLogger("asyncchat").error(
            "cannot listen on %s:%d: %s", config.host, config.port, problem.strerror or problem
        )
        return 1
    return 0


def client_config(args: argparse.Namespace) -> ClientConfig:
    return ClientConfig(
        name=args.name,
        host=args.host,
        port=args.port,
        timestamps=args.timestamps,
        color=args.color and not os.environ.get("NO_COLOR"),
        reconnect=args.reconnect,
        stay=args.stay,
    )


def _run_client(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        config = client_config(args)
    except ValueError as problem:
        parser.error(str(problem))
    if sys.stdin.isatty() and sys.stdout.isatty():
        from .tui import run_interactive

        return run_interactive(config)
    from .client import run_piped

    return run_piped(config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _run_server(parser, args)
    if args.command == "join":
        return _run_client(parser, args)
    parser.error(f"unknown command {args.command!r}")
    return 2
