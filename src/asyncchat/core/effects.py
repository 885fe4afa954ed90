"""What the hub asks of the edge: deliver an event, addressed by key, or close a session.

Addresses are session ids and room keys, not objects or live views: the
edge resolves them when it carries the effects out (right after the hub
call that made them), and a later directory shared between processes can
resolve them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from asyncchat.core.events import Event

NOBODY = 0
"""Session ids start at 1: `exclude=NOBODY` leaves no one out."""


@dataclass(frozen=True, slots=True)
class ToSession:
    id: int


@dataclass(frozen=True, slots=True)
class ToSessions:
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ToRoom:
    """Everyone in the room but `exclude` (the sender) and `skip` (who ignores them)."""

    room: str
    exclude: int = NOBODY
    skip: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ToRooms:
    """Everyone in any of these rooms, once each (a rename told to all of a user's rooms)."""

    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToEveryone:
    """Every named session (a /wall): on every node of a cluster."""


Target = ToSession | ToSessions | ToRoom | ToRooms | ToEveryone


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    to: Target


@dataclass(frozen=True, slots=True)
class Close:
    """Close the session's connection once what was delivered to it has been sent."""

    session: int


@dataclass(frozen=True, slots=True)
class ClaimName:
    """A request: is this name free? The edge asks the directory and answers
    with `Hub.claimed(claim, holder)`. `rename`: for /nick, not for a first name;
    `force`: the account's password was given, so the name is taken from whoever
    holds it (a ghost being closed, perhaps on another node)."""

    session: int
    display: str
    key: str
    rename: bool = False
    force: bool = False


class Purpose(Enum):
    """What a password check or hash is for: the hub goes on from there."""

    SIGN_IN = "sign in"
    IDENTIFY = "identify"
    REGISTER = "register"
    CHANGE = "change"
    NEW_SECRET = "new secret"
    UNREGISTER = "unregister"


@dataclass(frozen=True, slots=True)
class PasswordWork:
    """A slow hash, for a worker thread: verify `password` against `secret`, or
    (`secret` None) hash it. The edge answers with `Hub.password_done(work, result)`.

    `account` is the name key it concerns; `new` a second password (/password).
    """

    session: int
    purpose: Purpose
    account: str
    password: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    new: str | None = field(default=None, repr=False)


Effect = Delivery | Close | ClaimName | PasswordWork
