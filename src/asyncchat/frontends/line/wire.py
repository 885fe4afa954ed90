"""The text of the line protocol, both ways: the one place that knows what lines look like.

The server renders events to lines here; clients parse lines back into the
same events here. Every server line starts with a prefix a program can
dispatch on (`<`, `* `, `*Name*`, `-> `, `*** `, `*** error: `).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import assert_never

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
from asyncchat.frontends.line.parser import command_help, help_lines

NOTICE = "*** "
ERROR = "*** error: "
EOL = "\r\n"
WELCOME_TEXT = "Welcome to asyncchat! What is your name?"
ASK_NAME_TEXT = "Please choose another name: type your name and press Enter."
SHUTTING_DOWN_TEXT = "server is shutting down"
SIGNED_IN_ELSEWHERE_TEXT = "signed in elsewhere"
PASSWORD_QUESTION = "is registered: send its password (or another name)"
"""The end of the notice after which a client asks for the password, hidden."""
_ACCOUNT_TEXT = {
    AccountChange.REGISTERED: "'{}' is registered to you",
    AccountChange.IDENTIFIED: "you are identified as '{}'",
    AccountChange.PASSWORD_CHANGED: "the password of '{}' is changed",
    AccountChange.UNREGISTERED: "'{}' is no longer registered",
}

HELP_LINES = help_lines()
OPERATOR_HELP_LINES = help_lines(operator=True)


TIME_FORMAT = "%Y-%m-%d %H:%M"


def _online(names: tuple[str, ...]) -> str:
    return f"Online ({len(names)}): {', '.join(names)}"


def said_text(record: Record) -> str:
    """A public line or action as the line protocol shows it: `<Alice> hi`, `* Alice waves`."""
    if record.action:
        return f"* {record.sender} {record.text}"
    return f"<{record.sender}> {record.text}"


def stamp(time: float) -> str:
    """A history line's time, in UTC to the minute."""
    return datetime.fromtimestamp(time, UTC).strftime(TIME_FORMAT)


def _topic_lines(room: str, topic: str) -> list[str]:
    return [f"{NOTICE}Topic of #{room}: {topic}"] if topic else []


def render(event: Event) -> list[str]:
    """The protocol lines for one event, without line endings."""
    match event:
        case Said(record, _, _):
            return [said_text(record)]
        case Private(sender, text, _, _):
            return [f"*{sender}* {text}"]
        case PrivateSent(recipient, text):
            return [f"-> *{recipient}* {text}"]
        case Welcome():
            return [NOTICE + WELCOME_TEXT]
        case AskName():
            return [NOTICE + ASK_NAME_TEXT]
        case Hello(name, online, topic):
            hello = f"{NOTICE}Hello {name}! {_online(online)}. Type /help for commands."
            return [hello, *_topic_lines("lobby", topic)]
        case Joined(name, count, moved, _):
            return [f"{NOTICE}{name} joined ({count} {'here' if moved else 'online'})"]
        case RoomEntered(room, names, topic):
            now = f"{NOTICE}Now in #{room} ({len(names)} here): {', '.join(names)}"
            return [now, *_topic_lines(room, topic)]
        case TopicIs(room, ""):
            return [f"{NOTICE}#{room} has no topic (/topic TEXT sets one)"]
        case TopicIs(room, topic):
            return _topic_lines(room, topic)
        case TopicChanged(name, room, ""):
            return [f"{NOTICE}{name} cleared the topic of #{room}"]
        case TopicChanged(name, room, topic):
            return [f"{NOTICE}{name} set the topic of #{room}: {topic}"]
        case AwayChanged() | Tagged():
            return []
        case Rooms(rooms):
            listed = ", ".join(f"#{room} ({count})" for room, count in rooms)
            return [f"{NOTICE}Rooms ({len(rooms)}): {listed}"]
        case HistoryStart(room):
            return [f"{NOTICE}Recent messages in #{room}:"]
        case HistoryLine(record):
            return [f"{NOTICE}[{stamp(record.time)}] {said_text(record)}"]
        case HistoryEnd(room):
            return [f"{NOTICE}End of recent messages in #{room}"]
        case Left(name, LeaveReason.QUIT | LeaveReason.PARTED, None, _):
            return [f"{NOTICE}{name} left"]
        case Left(name, LeaveReason.QUIT | LeaveReason.PARTED as why, message, _):
            return [
                f"{NOTICE}{name} left ({'quit' if why is LeaveReason.QUIT else 'part'}: {message})"
            ]
        case Left(name, LeaveReason.KICKED | LeaveReason.BANNED as why, message, _):
            return [f"{NOTICE}{name} left ({why.value} by {message})"]
        case Left(name, reason, _, _):
            return [f"{NOTICE}{name} left ({reason.value})"]
        case Online(names, away):
            shown = tuple(f"{name} (away)" if name in away else name for name in names)
            return [NOTICE + _online(shown)]
        case Renamed(old, new):
            return [f"{NOTICE}{old} is now {new}"]
        case Pong(token):
            return [f"{NOTICE}pong {token}" if token else NOTICE + "pong"]
        case HelpText(topic, operator):
            if topic is None:
                lines = OPERATOR_HELP_LINES if operator else HELP_LINES
                return [NOTICE + line for line in lines]
            return [NOTICE + command_help(topic)]
        case IsAway(name, message):
            return [f"{NOTICE}{name} is away: {message}"]
        case AwayState(None):
            return [NOTICE + "you are back"]
        case AwayState(message):
            return [f"{NOTICE}you are away: {message} (/away alone when you are back)"]
        case Ignoring(name, on):
            return [f"{NOTICE}{'ignoring' if on else 'no longer ignoring'} {name}"]
        case IgnoreList(()):
            return [NOTICE + "you are not ignoring anyone"]
        case IgnoreList(names):
            return [f"{NOTICE}Ignoring ({len(names)}): {', '.join(names)}"]
        case Bye(name):
            return [f"{NOTICE}Bye {name}!"]
        case ShuttingDown():
            return [NOTICE + SHUTTING_DOWN_TEXT]
        case AskPassword(name):
            return [f"{NOTICE}'{name}' {PASSWORD_QUESTION}"]
        case AccountState(change, name):
            return [NOTICE + _ACCOUNT_TEXT[change].format(name)]
        case SignedInElsewhere():
            return [NOTICE + SIGNED_IN_ELSEWHERE_TEXT]
        case Removed(LeaveReason.BANNED, by, message):
            return [f"{ERROR}you are banned by {by}" + (f": {message}" if message else "")]
        case Removed(reason, by, message):
            return [
                f"{NOTICE}you were {reason.value} by {by}" + (f": {message}" if message else "")
            ]
        case Wall(sender, text):
            return [f"{NOTICE}notice from {sender}: {text}"]
        case Notice(text):
            return [NOTICE + text]
        case Error(_, text):
            return [ERROR + text]
        case _:
            assert_never(event)


def encode(event: Event) -> bytes:
    """The bytes to send for one event: UTF-8, each line ending in CRLF."""
    return "".join(line + EOL for line in render(event)).encode()


_PUBLIC = re.compile(r"<([^>\s]+)> (.*)", re.DOTALL)
_ACTION = re.compile(r"\* (\S+) (.*)", re.DOTALL)
_PRIVATE = re.compile(r"\*([^*\s]+)\* (.*)", re.DOTALL)
_PRIVATE_SENT = re.compile(r"-> \*([^*\s]+)\* (.*)", re.DOTALL)
_HELLO = re.compile(r"Hello (\S+)! Online \(\d+\): (.*?)\.(?: .*)?")
_ONLINE = re.compile(r"Online \(\d+\): (.*)")
_JOINED = re.compile(r"(\S+) joined \((\d+) (online|here)\)")
_ENTERED = re.compile(r"Now in #(\S+) \(\d+ here\): (.*)")
_ROOMS = re.compile(r"Rooms \(\d+\): (.*)")
_ROOM_COUNT = re.compile(r"#(\S+) \((\d+)\)")
_HISTORY_START = re.compile(r"Recent messages in #(\S+):")
_HISTORY_END = re.compile(r"End of recent messages in #(\S+)")
_HISTORY_LINE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d)\] (.*)", re.DOTALL)
_LEFT = re.compile(r"(\S+) left(?: \((.*)\))?")
_RENAMED = re.compile(r"(\S+) is now (\S+)")
_PONG = re.compile(r"pong(?: (.*))?")
_BYE = re.compile(r"Bye (\S+)!")
_IS_AWAY = re.compile(r"(\S+) is away: (.*)", re.DOTALL)
_REASONS = {reason.value: reason for reason in LeaveReason}
_REMOVED = re.compile(r"(kicked|banned) by (.*)", re.DOTALL)
_YOU_WERE_KICKED = re.compile(r"you were kicked by ([^:\s]+)(?:: (.*))?", re.DOTALL)
_ASK_PASSWORD = re.compile(rf"'(\S+)' {re.escape(PASSWORD_QUESTION)}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.removesuffix(" (away)") for name in text.split(", ") if name)


def _left(name: str, reason: str | None) -> Left:
    if reason is None:
        return Left(name, LeaveReason.QUIT)
    if reason.startswith("quit: "):
        return Left(name, LeaveReason.QUIT, reason[len("quit: ") :])
    if m := _REMOVED.fullmatch(reason):
        return Left(name, LeaveReason(m[1]), m[2])
    return Left(name, _REASONS.get(reason, LeaveReason.CLOSED))


def _parse_notice(text: str) -> Event:
    if text == WELCOME_TEXT:
        return Welcome()
    if text == ASK_NAME_TEXT:
        return AskName()
    if text == SHUTTING_DOWN_TEXT:
        return ShuttingDown()
    if text == SIGNED_IN_ELSEWHERE_TEXT:
        return SignedInElsewhere()
    if m := _YOU_WERE_KICKED.fullmatch(text):
        return Removed(LeaveReason.KICKED, m[1], m[2])
    if m := _ASK_PASSWORD.fullmatch(text):
        return AskPassword(m[1])
    if m := _HELLO.fullmatch(text):
        return Hello(m[1], _names(m[2]))
    if m := _ONLINE.fullmatch(text):
        return Online(_names(m[1]))
    if m := _JOINED.fullmatch(text):
        return Joined(m[1], int(m[2]), m[3] == "here")
    if m := _ENTERED.fullmatch(text):
        return RoomEntered(m[1], _names(m[2]))
    if m := _ROOMS.fullmatch(text):
        return Rooms(tuple((r[1], int(r[2])) for r in _ROOM_COUNT.finditer(m[1])))
    if m := _HISTORY_START.fullmatch(text):
        return HistoryStart(m[1])
    if m := _HISTORY_END.fullmatch(text):
        return HistoryEnd(m[1])
    if (m := _HISTORY_LINE.fullmatch(text)) and (said := _parse_said(m[2])):
        when = datetime.strptime(m[1], TIME_FORMAT).replace(tzinfo=UTC).timestamp()
        return HistoryLine(Record("", when, said[0], said[1], said[2]))
    if m := _LEFT.fullmatch(text):
        return _left(m[1], m[2])
    if m := _RENAMED.fullmatch(text):
        return Renamed(m[1], m[2])
    if m := _PONG.fullmatch(text):
        return Pong(m[1] or "")
    if m := _BYE.fullmatch(text):
        return Bye(m[1])
    if m := _IS_AWAY.fullmatch(text):
        return IsAway(m[1], m[2])
    return Notice(text)


def _parse_said(text: str) -> tuple[str, str, bool] | None:
    if m := _PUBLIC.fullmatch(text):
        return m[1], m[2], False
    if m := _ACTION.fullmatch(text):
        return m[1], m[2], True
    return None


def parse(line: str) -> Event | None:
    """Read a server line back into its event; None if it has no known prefix."""
    if line.startswith(ERROR):
        return Error(ErrorCode.UNSPECIFIED, line[len(ERROR) :])
    if line.startswith(NOTICE):
        return _parse_notice(line[len(NOTICE) :])
    if m := _PUBLIC.fullmatch(line):
        return Said(Record("", 0.0, m[1], m[2]))
    if m := _PRIVATE_SENT.fullmatch(line):
        return PrivateSent(m[1], m[2])
    if m := _PRIVATE.fullmatch(line):
        return Private(m[1], m[2])
    if m := _ACTION.fullmatch(line):
        return Said(Record("", 0.0, m[1], m[2], action=True))
    return None


def final_reason(event: Event | None) -> str | None:
    """Why a client must not reconnect after this event (signed in elsewhere,
    kicked, banned), or None. Reconnecting would fight the new session or the
    operator."""
    match event:
        case SignedInElsewhere():
            return SIGNED_IN_ELSEWHERE_TEXT
        case Removed(reason, _, _):
            return reason.value
        case Error(_, text) if text.startswith("you are banned"):
            return "banned"
    return None
