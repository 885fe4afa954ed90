"""Command line: `asyncchat serve` runs the daemon, `asyncchat join NAME` the client."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import os
import sys
import tomllib
from collections.abc import Sequence
from typing import Any, cast

from asyncchat import __version__
from asyncchat.backends.store import StoreError, default_db_path
from asyncchat.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    DEFAULT_TLS_PORT,
    ClientConfig,
    ServerConfig,
)
from asyncchat.edge import loop

_CONVERT = {"int": int, "float": float, "str": str, "bool": bool}
_EXPECTED = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_SETTINGS = {
    spelling: setting
    for setting in dataclasses.fields(ServerConfig)
    for spelling in (setting.name.replace("_", "-"), setting.name)
}


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the chat daemon",
        description="Run the chat daemon. Users join with `asyncchat join NAME`, nc or telnet.",
        formatter_class=_Defaults,
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="read settings from a TOML file; flags win over it",
    )
    for setting in dataclasses.fields(ServerConfig):
        options = dict(setting.metadata)
        if "action" not in options:  # a switch (store_true) takes no value to convert
            options.setdefault("type", _CONVERT[str(setting.type)])
        default = str(default_db_path()) if setting.name == "db" else setting.default
        if options.get("action") == "append":  # argparse appends to a list it copies
            default = list(cast("tuple[str, ...]", default))
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
        formatter_class=_Defaults,
    )
    join.add_argument("name", metavar="NAME", help="the name to chat under")
    join.add_argument("--host", default=DEFAULT_HOST, help="server address")
    join.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"server port (default: {DEFAULT_PORT}, with --tls {DEFAULT_TLS_PORT})",
    )
    join.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS, verifying the server against the system's CAs",
    )
    join.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="verify the server against the CAs in this file instead (implies --tls)",
    )
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
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for a connection and for the server's greeting",
    )
    join.add_argument(
        "--no-bell",
        dest="bell",
        action="store_false",
        help="no terminal bell when a line mentions your name or a private message arrives",
    )
    join.add_argument(
        "--no-history",
        dest="history",
        action="store_false",
        help="do not show a room's recent lines on entering it (for bots)",
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


def _describe(value: object) -> str:
    """The TOML type of a value, and the value when it is short, for an error message."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _checked(setting: dataclasses.Field[Any], key: str, value: object) -> object:
    """A file value as the flag's own parsing would give it, so argparse need not check it."""
    if setting.metadata.get("action") == "append":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{key!r} must be an array of strings, not {_describe(value)}")
        return list(value)
    expected = _CONVERT[str(setting.type)]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ValueError(f"{key!r} must be {_EXPECTED[expected]}, not {_describe(value)}")
    converted = setting.metadata.get("type", expected)(value)
    choices = setting.metadata.get("choices")
    if choices is not None and converted not in choices:
        raise ValueError(f"{key!r} must be one of {', '.join(choices)}, not {value!r}")
    return converted


def load_config_file(path: str) -> dict[str, object]:
    """The settings in a TOML file, by field name; ValueError names what is wrong and where."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as problem:
        raise ValueError(f"cannot read --config {path}: {problem.strerror or problem}") from None
    except UnicodeDecodeError as problem:
        raise ValueError(f"--config {path} is not UTF-8 (byte {problem.start})") from None
    except tomllib.TOMLDecodeError as problem:
        raise ValueError(f"--config {path} is not valid TOML: {problem}") from None
    values: dict[str, object] = {}
    for key, value in table.items():
        if key == "config":
            raise ValueError(f"--config {path}: 'config' cannot be set inside a config file")
        setting = _SETTINGS.get(key)
        if setting is None:
            close = difflib.get_close_matches(key, _SETTINGS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see asyncchat serve --help"
            raise ValueError(f"--config {path}: unknown setting {key!r} ({hint})")
        if setting.name in values:
            flag = setting.name.replace("_", "-")
            raise ValueError(
                f"--config {path}: {flag!r} and {setting.name!r} are the same setting; keep one"
            )
        try:
            values[setting.name] = _checked(setting, key, value)
        except ValueError as problem:
            raise ValueError(f"--config {path}: {problem}") from None
    return values


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, except for on/off switches, where "(default: True)"
    beside `--no-color` would read as the opposite of what it means, and for
    settings that are off unless given ("(default: )", "(default: [])")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if isinstance(action, argparse._StoreConstAction) or action.default in ("", None, []):
            return action.help
        return super()._get_help_string(action)


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one command, whose defaults a config file replaces."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(name)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse twice when `serve --config` is given: the file's values become the defaults,
    so flags still win over the file and the file over the built-in defaults."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # say it with the subcommand's usage, not the top-level one
        command = _subcommand(parser, args.command)
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "config", None) is None:
        return args
    serve = _subcommand(parser, "serve")
    try:
        serve.set_defaults(**load_config_file(args.config))
    except ValueError as problem:
        serve.error(str(problem))
    return parser.parse_args(argv)


def server_config(args: argparse.Namespace) -> ServerConfig:
    values: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(ServerConfig)
    }
    converted: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value for key, value in values.items()
    }
    return ServerConfig(**converted)


def _run_server(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from asyncchat.edge.server import ClusterError, TLSError, serve

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
    except (StoreError, TLSError, ClusterError) as problem:
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
        port=args.port or (DEFAULT_TLS_PORT if args.tls or args.tls_ca else DEFAULT_PORT),
        timestamps=args.timestamps,
        color=args.color and not os.environ.get("NO_COLOR"),
        reconnect=args.reconnect,
        stay=args.stay,
        history=args.history,
        bell=args.bell,
        tls=args.tls or args.tls_ca is not None,
        tls_ca=args.tls_ca,
        timeout=args.timeout,
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
    args = parse_args(parser, argv)
    if args.command == "serve":
        return _run_server(parser, args)
    if args.command == "join":
        return _run_client(parser, args)
    parser.error(f"unknown command {args.command!r}")
    return 2
