"""Events, addresses and session states as JSON, for entries in the cluster's log.

Pure. JSON rather than pickle: whoever can write to Redis must not be able
to run code in the daemons. Dataclasses are written as lists of their
fields in order and read back by their type hints; a public line, the
entry nearly all traffic is, has its own short path.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, Union, cast

from asyncchat.cluster.directory import SessionState
from asyncchat.core.accounts import Account
from asyncchat.core.effects import Target, ToEveryone, ToRoom, ToRooms, ToSession, ToSessions
from asyncchat.core.events import Event, Record, Said
from asyncchat.core.moderation import Ban, Mute

EVENTS: dict[str, type[Any]] = {cls.__name__: cls for cls in typing.get_args(Event)}
TARGETS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (ToSession, ToSessions, ToRoom, ToRooms, ToEveryone)
}


class BadEntry(ValueError):
    """An entry this node cannot read (another version wrote it, or a stranger)."""


READ_ERRORS = (KeyError, TypeError, ValueError, OverflowError, RecursionError)
"""What reading a malformed value can raise, all reported as BadEntry."""


def dump(value: Any) -> Any:
    """A dataclass (nested too), enum, tuple or frozenset as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [dump(getattr(value, f.name)) for f in _fields(type(value))]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | frozenset | list):
        return [dump(item) for item in value]
    return value


def load(kind: Any, value: Any) -> Any:
    """The inverse of `dump`, led by the type `kind`."""
    if kind in (str, int, float, bool) or kind is Any:
        if kind is float and type(value) in (int, float):
            value = float(value)  # OverflowError for a huge int: see READ_ERRORS
            if not math.isfinite(value):
                raise BadEntry(f"expected a finite number, got {value}")
            return value
        if kind is not Any and type(value) is not kind:  # not isinstance: True is no int
            raise BadEntry(f"expected {kind.__name__}, got {value!r:.40}")
        return value
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        fields = _fields(kind)
        if not isinstance(value, list) or len(value) != len(fields):
            raise BadEntry(f"{kind.__name__}: expected {len(fields)} fields")
        return kind(*(load(hints[f.name], v) for f, v in zip(fields, value, strict=True)))
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (other,) = (arg for arg in args if arg is not type(None))
        return load(other, value)
    if not isinstance(value, list):
        raise BadEntry(f"expected a list, got {value!r:.40}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(load(args[0], item) for item in value)
        return tuple(load(arg, item) for arg, item in zip(args, value, strict=True))
    if origin is frozenset:
        return frozenset(load(args[0], item) for item in value)
    raise BadEntry(f"cannot read {kind}")


@cache
def _fields(kind: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(kind)


@cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def dump_event(event: Event) -> list[Any]:
    if type(event) is Said:
        r = event.record
        return [
            "Said",
            [[r.room, r.time, r.sender, r.text, r.action, r.id], event.room, event.tags],
        ]
    return [type(event).__name__, dump(event)]


def load_event(value: Any) -> Event:
    try:
        name, fields = value
        if name == "Said":
            said = _said(fields)
            if said is not None:
                return said
        return cast(Event, load(EVENTS[name], fields))
    except READ_ERRORS as problem:
        raise BadEntry(f"not an event: {problem}") from None


def _said(fields: Any) -> Said | None:
    """A public line the short way, if every field has its exact type (else the
    general path reads it, or says what is wrong)."""
    (room, time, sender, text, action, id), shown, tags = fields
    if not (
        type(room) is str
        and type(sender) is str
        and type(text) is str
        and type(shown) is str
        and type(action) is bool
        and type(id) is int
        and type(time) is float
        and math.isfinite(time)
        and all(
            type(tag) is list and len(tag) == 2 and type(tag[0]) is str and type(tag[1]) is str
            for tag in tags
        )
    ):
        return None
    # Interned: the history cache keeps lines under its own room string, by identity.
    record = Record(sys.intern(room), time, sender, text, action, id)
    return Said(record, shown, tuple((k, v) for k, v in tags))


def dump_target(target: Target) -> list[Any]:
    return [type(target).__name__, dump(target)]


def load_target(value: Any) -> Target:
    try:
        name, fields = value
        return cast(Target, load(TARGETS[name], fields))
    except READ_ERRORS as problem:
        raise BadEntry(f"not an address: {problem}") from None


def dump_state(state: SessionState) -> str:
    return json.dumps(dump(state), ensure_ascii=False, separators=(",", ":"))


def load_state(text: str | bytes) -> SessionState:
    return cast(SessionState, _load_json(SessionState, text))


def dump_kept(item: Account | Ban | Mute) -> str:
    return json.dumps(dump(item), ensure_ascii=False, separators=(",", ":"))


def load_account(text: str | bytes) -> Account:
    return cast(Account, _load_json(Account, text))


def load_ban(text: str | bytes) -> Ban:
    return cast(Ban, _load_json(Ban, text))


def load_mute(text: str | bytes) -> Mute:
    return cast(Mute, _load_json(Mute, text))


def dump_record(record: Record) -> str:
    """A history line (one per line said, so written out rather than by `dump`)."""
    r = record
    fields = [r.room, r.time, r.sender, r.text, r.action, r.id]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def load_record(text: str | bytes) -> Record:
    return cast(Record, _load_json(Record, text))


def _load_json(kind: type[Any], text: str | bytes) -> Any:
    try:
        return load(kind, json.loads(text))
    except READ_ERRORS as problem:
        raise BadEntry(f"not a {kind.__name__}: {problem}") from None
