"""The line protocol's input side: a frame in, one core command (or this front end's
own error) out.

Message text leaves here already sanitised; names are passed on raw, because
a name with a control character must be refused, not silently cleaned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from asyncchat.core.commands import (
    Act,
    Away,
    Command,
    Help,
    Ignore,
    Join,
    ListRooms,
    Malformed,
    Nick,
    Ping,
    Quit,
    Register,
    Reply,
    Say,
    Unignore,
    Unknown,
    Whisper,
    Who,
)
from asyncchat.core.events import AskName, Error, ErrorCode, Event
from asyncchat.core.names import looks_like_name
from asyncchat.core.sanitize import invisible_characters, invisible_only, sanitize
from asyncchat.frontends.line.framing import (
    Frame,
    InvalidUtf8,
    Line,
    LineTooLong,
    SubnegotiationTooLong,
)

_ADDRESSED = re.compile(r"([^\s:]+):(.*)", re.DOTALL)
_FIRST_WORD = re.compile(r"(\S*)\s*(.*)", re.DOTALL)
_EMPTY_AFTER_CLEANING = "nothing left to send after removing control characters"


def _text(text: str, usage: str) -> str | Malformed:
    if not text.strip():
        return Malformed(usage)
    clean = sanitize(text).strip()
    return Malformed(_EMPTY_AFTER_CLEANING) if invisible_only(clean) else clean


def _whisper(target: str, text: str) -> Command:
    clean = _text(text, f"nothing to send: type '{sanitize(target)}: your message'")
    return clean if isinstance(clean, Malformed) else Whisper(target, clean)


def parse_command(line: str) -> Command | None:
    """Return the command a line asks for, or None for a blank line."""
    line = line.strip()
    if not line:
        return None
    if line.startswith("//"):
        return _say(line[1:])
    if line.startswith("/"):
        return _slash_command(line)
    clean = sanitize(line).strip()
    if invisible_only(clean):
        return Malformed(_EMPTY_AFTER_CLEANING)
    addressed = _ADDRESSED.match(clean)
    if addressed and _addressee(addressed[1]) and not addressed[2].lstrip().startswith("//"):
        return _whisper(addressed[1], addressed[2])
    return Say(clean)


def _addressee(word: str) -> bool:
    """A name, or one with invisible characters in it: that one must not go public
    (the hub refuses it as not a valid name, and nothing is sent)."""
    if looks_like_name(word):
        return True
    hidden = invisible_characters(word)
    return bool(hidden) and looks_like_name("".join(c for c in word if c not in hidden))


def _split_word(text: str) -> tuple[str, str]:
    match = _FIRST_WORD.match(text)
    assert match is not None
    return match[1], match[2].strip()


def _say(text: str) -> Command:
    clean = _text(text, "nothing to send")
    return clean if isinstance(clean, Malformed) else Say(clean)


@dataclass(frozen=True, slots=True)
class Spec:
    """One slash command of the line protocol: what /help shows, how it parses.

    `parse` gets the rest of the line after the word, stripped. The table
    below is the one place a command is defined: the parser, the /help
    text and the client's Tab completion all read it.
    """

    word: str
    synopsis: str
    help: str
    parse: Callable[[str], Command]
    aliases: tuple[str, ...] = ()


def _needs(usage: str, make: Callable[[str], Command]) -> Callable[[str], Command]:
    return lambda rest: make(rest) if rest else Malformed(f"usage: {usage}")


def _msg(rest: str) -> Command:
    target, text = _split_word(rest)
    if not target or not text:
        return Malformed("usage: /msg NAME message")
    return _whisper(target, text)


def _reply(rest: str) -> Command:
    clean = _text(rest, "usage: /reply message")
    return clean if isinstance(clean, Malformed) else Reply(clean)


def _act(rest: str) -> Command:
    clean = _text(rest, "usage: /me does something")
    return clean if isinstance(clean, Malformed) else Act(clean)


def _away(rest: str) -> Command:
    message = sanitize(rest).strip()
    return Away(message if message and not invisible_only(message) else None)


def _help(rest: str) -> Command:
    if not rest:
        return Help()
    word = rest.split()[0].removeprefix("/").lower()
    if word not in _BY_WORD:
        return Malformed(f"there is no command '/{sanitize(word)}' (/help lists them)")
    return Help(_BY_WORD[word].word)


def command_help(word: str) -> str:
    """One command explained on one line, for /help COMMAND."""
    spec = _BY_WORD[word]
    aliases = ", ".join("/" + alias for alias in spec.aliases)
    return f"{spec.synopsis}: {spec.help}" + (f" (also {aliases})" if aliases else "")


COMMANDS: tuple[Spec, ...] = (
    Spec("msg", "/msg NAME message", "private message to NAME", _msg),
    Spec("reply", "/reply message", "answer the last private message", _reply, ("r",)),
    Spec("me", "/me action", "say what you do: * You wave", _act),
    Spec(
        "all",
        "/all message",
        "say it publicly even if it starts with 'name:'",
        _needs("/all message", _say),
    ),
    Spec("who", "/who", "who is in this room", lambda _: Who(), ("names", "users")),
    Spec(
        "join",
        "/join ROOM",
        "go to another room, creating it if needed",
        _needs("/join ROOM", Join),
    ),
    Spec("rooms", "/rooms", "the rooms and how many are in each", lambda _: ListRooms()),
    Spec("nick", "/nick NEWNAME", "change your name", _needs("/nick NEWNAME", Nick)),
    Spec(
        "ignore",
        "/ignore [NAME]",
        "hide NAME's lines and private messages; alone: who you ignore",
        lambda rest: Ignore(rest or None),
    ),
    Spec("unignore", "/unignore NAME", "stop ignoring NAME", _needs("/unignore NAME", Unignore)),
    Spec("ping", "/ping [token]", "check the server answers", lambda r: Ping(sanitize(r).strip())),
    Spec("away", "/away [message]", "say you are away; alone: you are back", _away),
    Spec("help", "/help [COMMAND]", "this list, or one command explained", _help),
    Spec("quit", "/quit [reason]", "leave", lambda r: Quit(sanitize(r).strip() or None)),
)
"""Every slash command, in the order /help lists them."""

_BY_WORD = {word: spec for spec in COMMANDS for word in (spec.word, *spec.aliases)}
COMMAND_WORDS = tuple(_BY_WORD)
_FORMS = (
    ("message", "say something to everyone in the room"),
    ("NAME: message", "private message to NAME"),
)
_ESCAPED = ("//text", "say '/text' publicly")


def _help_line(synopsis: str, text: str) -> str:
    return f"  {synopsis:<19} {text}"


def help_lines() -> tuple[str, ...]:
    """The /help text: the plain forms, then every command from the table."""
    lines = ["Commands:", *(_help_line(*form) for form in _FORMS)]
    for spec in COMMANDS:
        aliases = ", ".join("/" + alias for alias in spec.aliases)
        lines.append(
            _help_line(spec.synopsis, spec.help + (f" (also {aliases})" if aliases else ""))
        )
        if spec.word == "all":
            lines.append(_help_line(*_ESCAPED))
    return tuple(lines)


def _slash_command(line: str) -> Command:
    word, rest = _split_word(line[1:])
    spec = _BY_WORD.get(word.lower())
    if spec is None:
        return Unknown("/" + sanitize(word))
    return spec.parse(rest)


def interpret(frame: Frame, naming: bool) -> Command | list[Event] | None:
    """What a frame asks of the hub, or this front end's answer to a framing error
    (sent to the sender only; while naming, with the name question again)."""
    match frame:
        case Line(text):
            if naming:
                return Register(text) if text.strip() else None
            return parse_command(text)
        case LineTooLong(limit):
            error = Error(
                ErrorCode.LINE_TOO_LONG,
                f"line too long (the limit is {limit} bytes); it was not sent",
            )
        case InvalidUtf8():
            error = Error(ErrorCode.INVALID_UTF8, "that line was not valid UTF-8; it was not sent")
        case SubnegotiationTooLong(limit):
            error = Error(
                ErrorCode.LINE_TOO_LONG,
                f"telnet subnegotiation too long (the limit is {limit} bytes); discarded",
            )
        case _:
            assert_never(frame)
    return [error, AskName()] if naming else [error]
