"""The commands the hub carries out, whatever front end they were typed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Register:
    """The name a new connection asks for (its first command)."""

    name: str


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Act:
    text: str


@dataclass(frozen=True, slots=True)
class Whisper:
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class Who:
    pass


@dataclass(frozen=True, slots=True)
class Join:
    room: str


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class Nick:
    name: str


@dataclass(frozen=True, slots=True)
class Ping:
    token: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str | None


@dataclass(frozen=True, slots=True)
class Ignore:
    """`name` None: list who is ignored."""

    name: str | None


@dataclass(frozen=True, slots=True)
class Unignore:
    name: str


@dataclass(frozen=True, slots=True)
class Unknown:
    command: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """The line was understood but cannot be carried out; `problem` says why."""

    problem: str


Command = (
    Register
    | Say
    | Act
    | Whisper
    | Reply
    | Who
    | Join
    | ListRooms
    | Nick
    | Ping
    | Help
    | Quit
    | Ignore
    | Unignore
    | Unknown
    | Malformed
)
