"""The WebSocket's JSON both ways, without sockets: every hub event as its documented
object (docs/web.md), every browser message as its command or error, and the frame
that carries an event."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_args

import pytest

from asyncchat.core.commands import (
    Act,
    Command,
    Join,
    ListRooms,
    Malformed,
    Nick,
    Ping,
    Quit,
    Register,
    Say,
    Whisper,
    Who,
)
from asyncchat.core.events import (
    AccountChange,
    AccountState,
    AskName,
    AskPassword,
    AwayChanged,
    AwayState,
    Bye,
    Error,
    ErrorCode,
    Event,
    Hello,
    HelpText,
    HistoryEnd,
    HistoryLine,
    HistoryStart,
    IgnoreList,
    Ignoring,
    IsAway,
    Joined,
    LeaveReason,
    Left,
    Notice,
    Online,
    Pong,
    Private,
    PrivateSent,
    Record,
    Removed,
    Renamed,
    RoomEntered,
    Rooms,
    Said,
    ShuttingDown,
    SignedInElsewhere,
    Tagged,
    TopicChanged,
    TopicIs,
    Wall,
    Welcome,
)
from asyncchat.frontends.line.parser import help_lines
from asyncchat.frontends.web.connection import encode
from asyncchat.frontends.web.events import as_json, as_text
from asyncchat.frontends.web.requests import interpret

MAX_LINE = 2048
TIME = 1_700_000_000.25
RECORD = Record("dev", TIME, "Ann", "hello there", False, 7)
ACTION = Record("dev", TIME, "Ann", "waves", True, 8)

EVENTS: list[tuple[Event, dict[str, Any]]] = [
    (
        Welcome(),
        {"type": "welcome", "version": 1, "text": "Welcome to asyncchat! What is your name?"},
    ),
    (
        AskName(),
        {
            "type": "ask-name",
            "text": "Please choose another name: type your name and press Enter.",
        },
    ),
    (
        Hello("Ann", ("Ann", "Bob"), "plans"),
        {"type": "hello", "name": "Ann", "online": ["Ann", "Bob"], "topic": "plans"},
    ),
    (
        Joined("Bob", 3, True, "dev"),
        {"type": "joined", "name": "Bob", "count": 3, "moved": True, "room": "dev"},
    ),
    (
        RoomEntered("Dev", ("Ann", "Bob"), "t"),
        {"type": "room", "room": "Dev", "names": ["Ann", "Bob"], "topic": "t"},
    ),
    (
        Rooms((("lobby", 2), ("dev", 1))),
        {"type": "rooms", "rooms": [{"room": "lobby", "count": 2}, {"room": "dev", "count": 1}]},
    ),
    (HistoryStart("dev"), {"type": "history-start", "room": "dev"}),
    (
        HistoryLine(ACTION),
        {
            "type": "history",
            "room": "dev",
            "time": TIME,
            "from": "Ann",
            "text": "waves",
            "action": True,
            "id": 8,
        },
    ),
    (HistoryEnd("dev"), {"type": "history-end", "room": "dev"}),
    (
        Left("Bob", LeaveReason.QUIT, "bed time", "lobby"),
        {
            "type": "left",
            "name": "Bob",
            "reason": "quit",
            "message": "bed time",
            "room": "lobby",
            "text": "Bob left (quit: bed time)",
        },
    ),
    (
        Said(RECORD, "Dev", (("msgid", "abc"),)),
        {
            "type": "message",
            "room": "Dev",
            "time": TIME,
            "from": "Ann",
            "text": "hello there",
            "action": False,
            "id": 7,
            "tags": {"msgid": "abc"},
        },
    ),
    (
        Private("Ann", "psst", TIME, 9),
        {"type": "private", "from": "Ann", "text": "psst", "time": TIME, "id": 9},
    ),
    (PrivateSent("Bob", "psst"), {"type": "private-sent", "to": "Bob", "text": "psst"}),
    (
        Online(("Ann", "Bob", "Cy"), frozenset({"Cy", "Zed"})),
        {"type": "online", "names": ["Ann", "Bob", "Cy"], "away": ["Cy"]},
    ),
    (Renamed("Ann", "Anna"), {"type": "renamed", "old": "Ann", "new": "Anna"}),
    (Pong("t1"), {"type": "pong", "token": "t1"}),
    (
        HelpText("join"),
        {"type": "help", "text": "/join ROOM: go to another room, creating it if needed"},
    ),
    (
        IsAway("Bob", "lunch"),
        {"type": "is-away", "name": "Bob", "message": "lunch", "text": "Bob is away: lunch"},
    ),
    (
        AwayState("lunch"),
        {
            "type": "away",
            "message": "lunch",
            "text": "you are away: lunch (/away alone when you are back)",
        },
    ),
    (
        Ignoring("Bob", True),
        {"type": "ignoring", "name": "Bob", "on": True, "text": "ignoring Bob"},
    ),
    (
        IgnoreList(("Bob", "Cy")),
        {"type": "ignore-list", "names": ["Bob", "Cy"], "text": "Ignoring (2): Bob, Cy"},
    ),
    (Bye("Ann"), {"type": "bye", "name": "Ann", "text": "Bye Ann!"}),
    (ShuttingDown(), {"type": "shutdown", "text": "server is shutting down"}),
    (
        AskPassword("Ann"),
        {
            "type": "ask-password",
            "name": "Ann",
            "text": "'Ann' is registered: send its password (or another name)",
        },
    ),
    (
        AccountState(AccountChange.PASSWORD_CHANGED, "Ann"),
        {
            "type": "account",
            "change": "password-changed",
            "name": "Ann",
            "text": "the password of 'Ann' is changed",
        },
    ),
    (SignedInElsewhere(), {"type": "signed-in-elsewhere", "text": "signed in elsewhere"}),
    (
        Removed(LeaveReason.KICKED, "Op", "spam"),
        {
            "type": "removed",
            "reason": "kicked",
            "by": "Op",
            "message": "spam",
            "text": "you were kicked by Op: spam",
        },
    ),
    (Wall("Op", "maintenance at 5"), {"type": "wall", "from": "Op", "text": "maintenance at 5"}),
    (TopicIs("dev", ""), {"type": "topic", "room": "dev", "topic": ""}),
    (
        TopicChanged("Ann", "dev", "plans"),
        {"type": "topic-changed", "name": "Ann", "room": "dev", "topic": "plans"},
    ),
    (
        AwayChanged("Bob", None),
        {"type": "away-changed", "name": "Bob", "message": None},
    ),
    (
        Tagged("Ann", "", (("+typing", "active"),)),
        {"type": "tagged", "from": "Ann", "room": "", "tags": {"+typing": "active"}},
    ),
    (Notice("muted Bob"), {"type": "notice", "text": "muted Bob"}),
    (
        Error(ErrorCode.MUTED, "you are muted"),
        {"type": "error", "code": "muted", "text": "you are muted"},
    ),
]
"""One example of every event type, with the object docs/web.md promises for it."""

MORE_EVENTS: list[tuple[Event, dict[str, Any]]] = [
    (
        Said(ACTION),
        {
            "type": "message",
            "room": "dev",
            "time": TIME,
            "from": "Ann",
            "text": "waves",
            "action": True,
            "id": 8,
        },
    ),
    (HelpText(), {"type": "help", "text": "\n".join(help_lines())}),
    (
        Left("Bob", LeaveReason.MOVED, None, "lobby"),
        {
            "type": "left",
            "name": "Bob",
            "reason": "moved",
            "message": None,
            "room": "lobby",
            "text": "Bob left (moved to another room)",
        },
    ),
    (AwayState(None), {"type": "away", "message": None, "text": "you are back"}),
    (
        Ignoring("Bob", False),
        {"type": "ignoring", "name": "Bob", "on": False, "text": "no longer ignoring Bob"},
    ),
    (
        IgnoreList(()),
        {"type": "ignore-list", "names": [], "text": "you are not ignoring anyone"},
    ),
    (
        Removed(LeaveReason.BANNED, "Op", None),
        {
            "type": "removed",
            "reason": "banned",
            "by": "Op",
            "message": None,
            "text": "you are banned by Op",
        },
    ),
    (
        AccountState(AccountChange.REGISTERED, "Ann"),
        {
            "type": "account",
            "change": "registered",
            "name": "Ann",
            "text": "'Ann' is registered to you",
        },
    ),
    (
        AccountState(AccountChange.IDENTIFIED, "Ann"),
        {
            "type": "account",
            "change": "identified",
            "name": "Ann",
            "text": "you are identified as 'Ann'",
        },
    ),
    (
        AccountState(AccountChange.UNREGISTERED, "Ann"),
        {
            "type": "account",
            "change": "unregistered",
            "name": "Ann",
            "text": "'Ann' is no longer registered",
        },
    ),
    (
        TopicChanged("Ann", "dev", ""),
        {"type": "topic-changed", "name": "Ann", "room": "dev", "topic": ""},
    ),
]
"""The other forms some events take (no tags, cleared, back, a ban…)."""


def _ids(cases: list[tuple[Event, dict[str, Any]]]) -> list[str]:
    return [f"{type(event).__name__}-{index}" for index, (event, _) in enumerate(cases)]


def test_every_event_type_has_an_example() -> None:
    assert {type(event) for event, _ in EVENTS} == set(get_args(Event))


@pytest.mark.parametrize(
    ("event", "expected"), EVENTS + MORE_EVENTS, ids=_ids(EVENTS + MORE_EVENTS)
)
def test_each_event_is_its_documented_object(event: Event, expected: dict[str, Any]) -> None:
    assert as_json(event) == expected
    assert json.loads(as_text(event)) == expected


LEAVE_CODES = {
    LeaveReason.QUIT: "quit",
    LeaveReason.MOVED: "moved",
    LeaveReason.PARTED: "parted",
    LeaveReason.CLOSED: "closed",
    LeaveReason.RESET: "reset",
    LeaveReason.TOO_SLOW: "too-slow",
    LeaveReason.SHUTDOWN: "shutdown",
    LeaveReason.KICKED: "kicked",
    LeaveReason.BANNED: "banned",
    LeaveReason.GHOSTED: "ghosted",
    LeaveReason.PING_TIMEOUT: "ping-timeout",
    LeaveReason.NODE_LOST: "node-lost",
}


def test_every_leave_reason_has_its_documented_code() -> None:
    assert set(LEAVE_CODES) == set(LeaveReason)
    for reason, code in LEAVE_CODES.items():
        left = as_json(Left("Bob", reason, None, "lobby"))
        assert left["reason"] == code


def test_a_message_without_tags_has_no_tags_field_and_names_its_room() -> None:
    said = as_json(Said(RECORD))
    assert "tags" not in said
    assert said["room"] == "dev"  # no shown name given: the record's room


def test_the_text_is_compact_json_with_utf8_as_it_is() -> None:
    text = as_text(Said(Record("lobby", TIME, "Zoë", 'say "héllo" ☃', False, 1)))
    assert "Zoë" in text
    assert 'say \\"héllo\\" ☃' in text
    assert ", " not in text
    assert '": ' not in text
    assert json.loads(text)["text"] == 'say "héllo" ☃'


def _frame(data: bytes) -> tuple[int, int, bytes]:
    """(first byte, second byte without the length, payload) of one unmasked frame."""
    first, second = data[0], data[1]
    length, at = second & 0x7F, 2
    if length == 126:
        length, at = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        length, at = int.from_bytes(data[2:10], "big"), 10
    assert len(data) == at + length, "one frame, nothing more"
    return first, second & 0x80, data[at:]


@pytest.mark.parametrize(
    "event",
    [
        Pong("t"),
        Said(Record("lobby", TIME, "Ann", "é" * 200, False, 3)),
        Said(Record("lobby", TIME, "Ann", "x" * 70_000, False, 4)),
    ],
    ids=["short", "two-byte-length", "eight-byte-length"],
)
def test_encode_makes_one_unmasked_text_frame_of_the_json(event: Event) -> None:
    first, mask, payload = _frame(encode(event))
    assert first == 0x81  # FIN, text
    assert mask == 0
    assert payload == as_text(event).encode()
    assert json.loads(payload) == as_json(event)


# Requests: what the browser sends.

GOOD: list[tuple[dict[str, Any], Command | None]] = [
    ({"type": "say", "text": "hello"}, Say("hello")),
    ({"type": "say", "text": "  hi \x1b[31mthere  "}, Say("hi there")),
    ({"type": "say", "text": "/join dev"}, Say("/join dev")),
    ({"type": "say", "text": "hi", "extra": [1, 2]}, Say("hi")),
    ({"type": "action", "text": "waves"}, Act("waves")),
    ({"type": "private", "to": "Bob", "text": "psst"}, Whisper("Bob", "psst")),
    ({"type": "input", "text": "/join dev"}, Join("dev")),
    ({"type": "input", "text": "/nick Bo"}, Nick("Bo")),
    ({"type": "input", "text": "/me waves"}, Act("waves")),
    ({"type": "input", "text": "Bob: hi"}, Whisper("Bob", "hi")),
    ({"type": "input", "text": "hello all"}, Say("hello all")),
    ({"type": "input", "text": "   "}, None),
    ({"type": "join", "room": "#dev"}, Join("dev")),
    ({"type": "join", "room": " dev "}, Join("dev")),
    ({"type": "who"}, Who(None)),
    ({"type": "who", "room": "dev"}, Who("dev")),
    ({"type": "rooms"}, ListRooms()),
    ({"type": "ping", "token": "t1"}, Ping("t1")),
    ({"type": "ping"}, Ping("")),
    ({"type": "quit"}, Quit(None)),
    ({"type": "quit", "reason": "bed time"}, Quit("bed time")),
    ({"type": "quit", "reason": "   "}, Quit(None)),
]


@pytest.mark.parametrize(("message", "command"), GOOD, ids=[str(m) for m, _ in GOOD])
def test_each_request_becomes_its_command(message: dict[str, Any], command: Command | None) -> None:
    assert interpret(json.dumps(message), False, MAX_LINE) == command


def test_blank_text_is_nothing_to_send() -> None:
    for kind in ("say", "action"):
        asked = interpret(json.dumps({"type": kind, "text": "  "}), False, MAX_LINE)
        assert isinstance(asked, Malformed), asked
    asked = interpret(json.dumps({"type": "private", "to": "Bob", "text": ""}), False, MAX_LINE)
    assert isinstance(asked, Malformed), asked


@pytest.mark.parametrize(
    ("message", "command"),
    [
        ({"type": "name", "name": "Ann"}, Register("Ann", fresh=True)),
        ({"type": "password", "password": "secret123"}, Register("secret123")),
        ({"type": "password", "password": ""}, Register("")),
        ({"type": "name", "name": "  "}, None),
    ],
)
def test_naming_types_while_naming(message: dict[str, Any], command: Command | None) -> None:
    """A name is a name even after ask-password; a blank password gives up on it."""
    assert interpret(json.dumps(message), True, MAX_LINE, asked=True) == command


def test_a_password_nobody_asked_for_is_refused() -> None:
    asked = interpret(json.dumps({"type": "password", "password": "hunter2hunter2"}), True, 64)
    assert _only_error(asked, ErrorCode.BAD_COMMAND, naming=True) == (
        "no password was asked for: send a 'name'"
    )
    too_long = json.dumps({"type": "password", "password": "x" * 65})
    asked = interpret(too_long, True, 64, asked=True)
    assert "too long" in _only_error(asked, ErrorCode.LINE_TOO_LONG, naming=True)


def _only_error(asked: object, code: ErrorCode, naming: bool = False) -> str:
    """The text of the one error `interpret` answered (with AskName while naming)."""
    assert isinstance(asked, list), asked
    if naming:
        assert len(asked) == 2, asked
        assert asked[1] == AskName(), asked
    else:
        assert len(asked) == 1, asked
    error = asked[0]
    assert isinstance(error, Error), error
    assert error.code is code, error
    assert error.text
    return error.text


LONG = MAX_LINE + 1
BAD: list[tuple[str | bytes, ErrorCode]] = [
    ("not json", ErrorCode.BAD_COMMAND),
    ("", ErrorCode.BAD_COMMAND),
    ('{"type": "say", "text": "unterminated', ErrorCode.BAD_COMMAND),
    ("[1, 2]", ErrorCode.BAD_COMMAND),
    ('"say"', ErrorCode.BAD_COMMAND),
    ("42", ErrorCode.BAD_COMMAND),
    ("null", ErrorCode.BAD_COMMAND),
    ("true", ErrorCode.BAD_COMMAND),
    ("{}", ErrorCode.BAD_COMMAND),
    ('{"text": "hi"}', ErrorCode.BAD_COMMAND),
    ('{"type": 5}', ErrorCode.BAD_COMMAND),
    ('{"type": null}', ErrorCode.BAD_COMMAND),
    ('{"type": ["say"]}', ErrorCode.BAD_COMMAND),
    ('{"type": "dance"}', ErrorCode.UNKNOWN_COMMAND),
    ('{"type": "SAY", "text": "hi"}', ErrorCode.UNKNOWN_COMMAND),
    ('{"type": "say"}', ErrorCode.BAD_COMMAND),
    ('{"type": "say", "text": null}', ErrorCode.BAD_COMMAND),
    ('{"type": "say", "text": 5}', ErrorCode.BAD_COMMAND),
    ('{"type": "action", "text": ["x"]}', ErrorCode.BAD_COMMAND),
    ('{"type": "private", "to": "Bob"}', ErrorCode.BAD_COMMAND),
    ('{"type": "private", "text": "hi"}', ErrorCode.BAD_COMMAND),
    ('{"type": "private", "to": 1, "text": "hi"}', ErrorCode.BAD_COMMAND),
    ('{"type": "input"}', ErrorCode.BAD_COMMAND),
    ('{"type": "join"}', ErrorCode.BAD_COMMAND),
    ('{"type": "join", "room": false}', ErrorCode.BAD_COMMAND),
    ('{"type": "who", "room": {}}', ErrorCode.BAD_COMMAND),
    ('{"type": "ping", "token": 3}', ErrorCode.BAD_COMMAND),
    ('{"type": "quit", "reason": ["x"]}', ErrorCode.BAD_COMMAND),
    ('{"type": "name", "name": "Ann"}', ErrorCode.BAD_COMMAND),
    ('{"type": "password", "password": "secret123"}', ErrorCode.BAD_COMMAND),
    (json.dumps({"type": "say", "text": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "say", "text": "é" * (MAX_LINE // 2 + 1)}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "input", "text": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "private", "to": "x" * LONG, "text": "hi"}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "join", "room": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "ping", "token": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    (json.dumps({"type": "quit", "reason": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    (b'{"type": "ping"}', ErrorCode.BAD_COMMAND),
    (b"\x00\xff", ErrorCode.BAD_COMMAND),
    ("[" * 5000, ErrorCode.BAD_COMMAND),
    ("[" * 5000 + "]" * 5000, ErrorCode.BAD_COMMAND),
    ('{"a":' * 5000 + "1" + "}" * 5000, ErrorCode.BAD_COMMAND),
    ('{"type": "say", "text": "hi", "x": ' + "[" * 5000 + "]" * 5000 + "}", ErrorCode.BAD_COMMAND),
    ('{"type": "ping", "token": ' + "9" * 5000 + "}", ErrorCode.BAD_COMMAND),
]


@pytest.mark.parametrize(
    ("message", "code"), BAD, ids=[repr(m[:40]) + f"-{i}" for i, (m, _) in enumerate(BAD)]
)
def test_bad_input_is_one_error_after_naming(message: str | bytes, code: ErrorCode) -> None:
    _only_error(interpret(message, False, MAX_LINE), code)


def test_a_field_of_exactly_max_line_bytes_is_taken() -> None:
    assert interpret(json.dumps({"type": "say", "text": "x" * MAX_LINE}), False, MAX_LINE) == Say(
        "x" * MAX_LINE
    )
    two_byte = "é" * (MAX_LINE // 2)
    assert interpret(json.dumps({"type": "say", "text": two_byte}), False, MAX_LINE) == Say(
        two_byte
    )


def test_the_errors_say_what_was_wrong() -> None:
    long = json.dumps({"type": "say", "text": "x" * LONG})
    assert f"{MAX_LINE} bytes" in _only_error(
        interpret(long, False, MAX_LINE), ErrorCode.LINE_TOO_LONG
    )
    missing = _only_error(interpret('{"type": "say"}', False, MAX_LINE), ErrorCode.BAD_COMMAND)
    assert "'text'" in missing
    unknown = _only_error(
        interpret('{"type": "dance"}', False, MAX_LINE), ErrorCode.UNKNOWN_COMMAND
    )
    assert "'dance'" in unknown


def test_an_unknown_type_is_shown_cleaned_and_cut_short() -> None:
    kind = "\x1b[31m" + "x" * 100
    text = _only_error(
        interpret(json.dumps({"type": kind}), False, MAX_LINE), ErrorCode.UNKNOWN_COMMAND
    )
    assert "\x1b" not in text
    assert "x" * 40 in text
    assert "x" * 41 not in text


CHAT_TYPES = ["say", "action", "private", "input", "join", "who", "rooms", "ping", "quit"]


@pytest.mark.parametrize("kind", CHAT_TYPES)
def test_a_chat_type_while_naming_asks_for_the_name_again(kind: str) -> None:
    message = json.dumps({"type": kind, "text": "hi", "to": "Bob", "room": "dev"})
    _only_error(interpret(message, True, MAX_LINE), ErrorCode.BAD_NAME, naming=True)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", ErrorCode.BAD_COMMAND),
        (b"binary", ErrorCode.BAD_COMMAND),
        ("[" * 5000, ErrorCode.BAD_COMMAND),
        ('{"type": "dance"}', ErrorCode.UNKNOWN_COMMAND),
        ('{"name": "Ann"}', ErrorCode.BAD_COMMAND),
        ('{"type": "name"}', ErrorCode.BAD_COMMAND),
        ('{"type": "name", "name": 7}', ErrorCode.BAD_COMMAND),
        ('{"type": "password"}', ErrorCode.BAD_COMMAND),
        (json.dumps({"type": "name", "name": "x" * LONG}), ErrorCode.LINE_TOO_LONG),
    ],
)
def test_bad_input_while_naming_asks_for_the_name_again(
    message: str | bytes, code: ErrorCode
) -> None:
    _only_error(interpret(message, True, MAX_LINE), code, naming=True)


def _encodable(asked: object) -> bool:
    """Can everything `interpret` gave be written to a socket as UTF-8?"""
    if isinstance(asked, list):
        for event in asked:
            try:
                encode(event)
            except UnicodeEncodeError:
                return False
        return True
    if asked is None:
        return True
    assert dataclasses.is_dataclass(asked)
    for value in dataclasses.asdict(asked).values():  # type: ignore[arg-type]
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


@pytest.mark.parametrize(
    ("message", "naming"),
    [
        ('{"type": "say", "text": "a\\ud800b"}', False),
        ('{"type": "private", "to": "Bob", "text": "a\\ud800b"}', False),
        ('{"type": "ping", "token": "a\\ud800b"}', False),
        ('{"type": "quit", "reason": "a\\ud800b"}', False),
        ('{"type": "dance\\ud800"}', False),
        ('{"type": "name", "name": "Ann\\udfff"}', True),
    ],
)
def test_a_lone_surrogate_is_refused_or_cleaned(message: str, naming: bool) -> None:
    assert _encodable(interpret(message, naming, MAX_LINE))
