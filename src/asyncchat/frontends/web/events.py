"""The WebSocket front end's output: each hub event as one JSON object.

The page never parses the line protocol: every event carries its facts as
fields (docs/web.md has a schema per type). Notices that a client shows as
a sentence and nothing more also carry `text`, the sentence a terminal user
reads, so every front end says the same thing in the same words.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from asyncchat.core.events import (
    AccountState,
    AskName,
    AskPassword,
    AwayChanged,
    AwayState,
    Bye,
    Error,
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
from asyncchat.frontends.line.wire import NOTICE, render

PROTOCOL_VERSION = 1
"""The version of the JSON messages (docs/web.md), sent in `welcome`."""


def reason_code(reason: LeaveReason) -> str:
    """A leave reason as a stable word: `quit`, `too-slow`, `ping-timeout`…"""
    return reason.name.lower().replace("_", "-")


def _sentence(event: Event) -> str:
    """What the line protocol says for a notice, without its `*** ` prefix."""
    return "\n".join(line.removeprefix(NOTICE) for line in render(event))


def _record(kind: str, record: Record, room: str) -> dict[str, Any]:
    return {
        "type": kind,
        "room": room or record.room,
        "time": record.time,
        "from": record.sender,
        "text": record.text,
        "action": record.action,
        "id": record.id,
    }


def as_json(event: Event) -> dict[str, Any]:
    """The JSON object for one event."""
    match event:
        case Said(record, room, tags):
            said = _record("message", record, room)
            if tags:
                said["tags"] = dict(tags)
            return said
        case HistoryLine(record, room):
            return _record("history", record, room)
        case Private(sender, text, time, id):
            return {"type": "private", "from": sender, "text": text, "time": time, "id": id}
        case PrivateSent(recipient, text):
            return {"type": "private-sent", "to": recipient, "text": text}
        case Welcome():
            return {"type": "welcome", "version": PROTOCOL_VERSION, "text": _sentence(event)}
        case AskName():
            return {"type": "ask-name", "text": _sentence(event)}
        case Hello(name, online, topic):
            return {"type": "hello", "name": name, "online": list(online), "topic": topic}
        case Joined(name, count, moved, room):
            return {"type": "joined", "name": name, "count": count, "moved": moved, "room": room}
        case RoomEntered(room, names, topic):
            return {"type": "room", "room": room, "names": list(names), "topic": topic}
        case Rooms(rooms):
            counted = [{"room": room, "count": count} for room, count in rooms]
            return {"type": "rooms", "rooms": counted}
        case HistoryStart(room):
            return {"type": "history-start", "room": room}
        case HistoryEnd(room):
            return {"type": "history-end", "room": room}
        case Left(name, reason, message, room):
            return {
                "type": "left",
                "name": name,
                "reason": reason_code(reason),
                "message": message,
                "room": room,
                "text": _sentence(event),
            }
        case Online(names, away):
            return {"type": "online", "names": list(names), "away": [n for n in names if n in away]}
        case Renamed(old, new):
            return {"type": "renamed", "old": old, "new": new}
        case Pong(token):
            return {"type": "pong", "token": token}
        case HelpText():
            return {"type": "help", "text": _sentence(event)}
        case IsAway(name, message):
            return {"type": "is-away", "name": name, "message": message, "text": _sentence(event)}
        case AwayState(message):
            return {"type": "away", "message": message, "text": _sentence(event)}
        case AwayChanged(name, message):
            return {"type": "away-changed", "name": name, "message": message}
        case Ignoring(name, on):
            return {"type": "ignoring", "name": name, "on": on, "text": _sentence(event)}
        case IgnoreList(names):
            return {"type": "ignore-list", "names": list(names), "text": _sentence(event)}
        case Bye(name):
            return {"type": "bye", "name": name, "text": _sentence(event)}
        case ShuttingDown():
            return {"type": "shutdown", "text": _sentence(event)}
        case AskPassword(name):
            return {"type": "ask-password", "name": name, "text": _sentence(event)}
        case AccountState(change, name):
            return {
                "type": "account",
                "change": change.name.lower().replace("_", "-"),
                "name": name,
                "text": _sentence(event),
            }
        case SignedInElsewhere():
            return {"type": "signed-in-elsewhere", "text": _sentence(event)}
        case Removed(reason, by, message):
            return {
                "type": "removed",
                "reason": reason_code(reason),
                "by": by,
                "message": message,
                "text": _sentence(event).removeprefix("error: "),
            }
        case Wall(sender, text):
            return {"type": "wall", "from": sender, "text": text}
        case TopicIs(room, topic):
            return {"type": "topic", "room": room, "topic": topic}
        case TopicChanged(name, room, topic):
            return {"type": "topic-changed", "name": name, "room": room, "topic": topic}
        case Tagged(sender, room, tags):
            return {"type": "tagged", "from": sender, "room": room, "tags": dict(tags)}
        case Notice(text):
            return {"type": "notice", "text": text}
        case Error(code, text):
            return {"type": "error", "code": code.value, "text": text}
        case _:
            assert_never(event)


def as_text(event: Event) -> str:
    """The JSON text of one event: compact, UTF-8 as it is."""
    return json.dumps(as_json(event), ensure_ascii=False, separators=(",", ":"))
