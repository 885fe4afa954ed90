"""The WebSocket front end's input: one JSON message in, one hub command (or this
front end's error) out.

Typed lines (`input`) are read exactly as the terminal client's are, so the
page's `/` commands are the terminal's; the other types are what the page's
buttons and lists send. Text is sanitised by the same rules as a line's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asyncchat.core.commands import (
    Act,
    Command,
    Join,
    ListRooms,
    Malformed,
    Ping,
    Quit,
    Register,
    Say,
    Who,
)
from asyncchat.core.events import AskName, Error, ErrorCode, Event
from asyncchat.core.sanitize import sanitize
from asyncchat.frontends.line.parser import clean_text, parse_command, whisper

Asked = Command | list[Event] | None


class BadRequest(Exception):
    """The message cannot be taken: `code` and the text tell the sender why."""

    def __init__(self, code: ErrorCode, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _utf8(value: str, key: str) -> bytes:
    """JSON's escapes can spell half a surrogate pair, which no UTF-8 can carry."""
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise BadRequest(
            ErrorCode.INVALID_UTF8, f"'{key}' has half a surrogate pair (\\ud800…); not sent"
        ) from None


class Message:
    """One decoded message: its fields, each checked as it is read."""

    def __init__(self, fields: dict[str, Any], max_line: int) -> None:
        self.fields = fields
        self.type: str = fields["type"]
        _utf8(self.type, "type")
        self._max_line = max_line

    def text(self, key: str) -> str:
        value = self.optional(key)
        if value is None:
            raise BadRequest(ErrorCode.BAD_COMMAND, f"'{self.type}' needs '{key}' (a string)")
        return value

    def optional(self, key: str) -> str | None:
        value = self.fields.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequest(ErrorCode.BAD_COMMAND, f"'{key}' of '{self.type}' must be a string")
        if len(_utf8(value, key)) > self._max_line:
            raise BadRequest(
                ErrorCode.LINE_TOO_LONG,
                f"'{key}' too long (the limit is {self._max_line} bytes); it was not sent",
            )
        return value


def _said(make: Callable[[str], Command]) -> Callable[[Message], Command]:
    def read(message: Message) -> Command:
        clean = clean_text(message.text("text"), "nothing to send")
        return clean if isinstance(clean, Malformed) else make(clean)

    return read


def _quit(message: Message) -> Command:
    reason = message.optional("reason")
    clean = sanitize(reason).strip() if reason else ""
    return Quit(clean or None)


READERS: dict[str, Callable[[Message], Command | None]] = {
    "say": _said(Say),
    "action": _said(Act),
    "private": lambda message: whisper(message.text("to"), message.text("text")),
    "input": lambda message: parse_command(message.text("text")),
    "join": lambda message: Join(message.text("room").strip().removeprefix("#")),
    "who": lambda message: Who(message.optional("room")),
    "rooms": lambda message: ListRooms(),
    "ping": lambda message: Ping(message.optional("token") or ""),
    "quit": _quit,
}
"""How each type after naming becomes a command (docs/web.md lists them)."""
NAMING_TYPES = ("name", "password")
"""While choosing a name: a name, or the password the server asked for."""


def _read(decoded: Any, naming: bool, asked: bool, max_line: int) -> Command | None:
    if not isinstance(decoded, dict) or not isinstance(decoded.get("type"), str):
        raise BadRequest(ErrorCode.BAD_COMMAND, 'send a JSON object with a "type" (docs/web.md)')
    message = Message(decoded, max_line)
    kind = message.type
    if naming:
        if kind == "name":
            name = message.text("name")
            return Register(name, fresh=True) if name.strip() else None
        if kind == "password":
            if not asked:
                raise BadRequest(ErrorCode.BAD_COMMAND, "no password was asked for: send a 'name'")
            return Register(message.text("password"))
        if kind in READERS:
            raise BadRequest(ErrorCode.BAD_NAME, "choose a name first: send a 'name'")
    elif kind in NAMING_TYPES:
        raise BadRequest(ErrorCode.BAD_COMMAND, f"you already have a name; '{kind}' is for naming")
    reader = READERS.get(kind)
    if reader is None:
        shown = sanitize(kind)[:40]
        raise BadRequest(ErrorCode.UNKNOWN_COMMAND, f"unknown type '{shown}' (docs/web.md)")
    return reader(message)


def interpret(message: str | bytes, naming: bool, max_line: int, *, asked: bool = False) -> Asked:
    """What one WebSocket message asks of the hub, or this front end's errors for it
    (while naming, with the name question again, as the line protocol does).
    `asked`: the server asked for a password (`ask-password`)."""
    try:
        if isinstance(message, bytes):
            raise BadRequest(ErrorCode.BAD_COMMAND, "binary frames are not read: send JSON text")
        try:
            decoded = json.loads(message)
        except (ValueError, RecursionError):
            raise BadRequest(
                ErrorCode.BAD_COMMAND, "that was not JSON; it was not read (docs/web.md)"
            ) from None
        return _read(decoded, naming, asked, max_line)
    except BadRequest as bad:
        error = Error(bad.code, bad.text)
        return [error, AskName()] if naming else [error]
