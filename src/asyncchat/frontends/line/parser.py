"""The line protocol's input side: a frame in, one core command (or this front end's
own error) out.

Message text leaves here already sanitised; names are passed on raw, because
a name with a control character must be refused, not silently cleaned.
"""

from __future__ import annotations

import re
from typing import assert_never

from asyncchat.core.commands import (
    Act,
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
_ALIASES = {"r": "reply", "names": "who", "users": "who"}
COMMAND_WORDS = (
    *("msg", "reply", "me", "all", "who", "join", "rooms", "nick", "ignore", "unignore"),
    *("ping", "help", "quit"),
    *_ALIASES,
)


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


def _slash_command(line: str) -> Command:
    word, rest = _split_word(line[1:])
    name = word.lower()
    name = _ALIASES.get(name, name)
    if name == "msg":
        target, text = _split_word(rest)
        if not target or not text:
            return Malformed("usage: /msg NAME message")
        return _whisper(target, text)
    if name == "reply":
        clean = _text(rest, "usage: /reply message")
        return clean if isinstance(clean, Malformed) else Reply(clean)
    if name == "me":
        clean = _text(rest, "usage: /me does something")
        return clean if isinstance(clean, Malformed) else Act(clean)
    if name == "all":
        return _say(rest) if rest else Malformed("usage: /all message")
    if name == "who":
        return Who()
    if name == "join":
        return Join(rest) if rest else Malformed("usage: /join ROOM")
    if name == "rooms":
        return ListRooms()
    if name == "nick":
        return Nick(rest) if rest else Malformed("usage: /nick NEWNAME")
    if name == "ignore":
        return Ignore(rest or None)
    if name == "unignore":
        return Unignore(rest) if rest else Malformed("usage: /unignore NAME")
    if name == "ping":
        return Ping(sanitize(rest).strip())
    if name == "help":
        return Help()
    if name == "quit":
        return Quit(sanitize(rest).strip() or None)
    return Unknown("/" + sanitize(word))


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
