"""Command line: `asyncchat serve` runs the daemon, `asyncchat join NAME` the client."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

from asyncchat import __version__
from asyncchat.backends.store import StoreError, default_db_path
from asyncchat.config import DEFAULT_HOST, DEFAULT_PORT, ClientConfig, ServerConfig
from asyncchat.edge import loop

_CONVERT = {"int": int, "float": float, "str": str}


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the chat daemon",
        description="Run the chat daemon. Users join with `asyncchat join NAME`, nc or telnet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for setting in dataclasses.fields(ServerConfig):
        options = dict(setting.metadata)
        options.setdefault("type", _CONVERT[str(setting.type)])
        default = str(default_db_path()) if setting.name == "db" else setting.default
        serve.add_argument("--" + setting.name.replace("_", "-"), default=default, **options)


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
    return ServerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServerConfig)})


def _run_server(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from asyncchat.edge.server import serve

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
        from asyncchat.client.tui import run_interactive

        return run_interactive(config)
    from asyncchat.client.client import run_piped

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
