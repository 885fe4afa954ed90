"""Who is online: name → session, and room → members.

The only place that knows how sessions are indexed, so the hub reads as
routing decisions and the edge never touches these maps.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from enum import Enum
from typing import Generic, TypeVar

from asyncchat.core.names import Name

P = TypeVar("P")


class State(Enum):
    NAMING = "naming"
    CHATTING = "chatting"
    GONE = "gone"


MAX_CORRESPONDENTS = 100


class Session(Generic[P]):
    """One connection as the hub sees it; `peer` is the edge's handle for sending.

    `rooms` are the keys of every room the session is in, in the order it
    entered them (IRC users are in several); `room` is the current one, the
    last entered that it is still in (the line protocol's only room).
    `reply_to` holds the id and name of whoever last wrote to us privately,
    not their session, so a departed user is never kept alive by it;
    `correspondents` the ids of those we exchanged private messages with
    (they are told when we rename), the most recent MAX_CORRESPONDENTS.
    `host` is the peer's IP address (for bans), `address` what it counts as
    for per-address limits (None: exempt). `account` is the key of the
    account signed in to; `asked` the registered name asked for at naming,
    and `asking` true while its password is the next line; `busy` while a
    password is being hashed (the edge holds the session's input meanwhile).
    """

    __slots__ = (
        "__weakref__",
        "account",
        "address",
        "asked",
        "asking",
        "away",
        "busy",
        "correspondents",
        "host",
        "id",
        "key",
        "name",
        "peer",
        "reply_to",
        "room",
        "rooms",
        "state",
    )

    def __init__(self, peer: P, id: int = 0, address: str | None = None) -> None:
        self.peer = peer
        self.id = id
        self.address = address
        self.state = State.NAMING
        self.name = ""
        self.key = ""
        self.room = ""
        self.rooms: dict[str, None] = {}
        self.reply_to: tuple[int, str] | None = None
        self.away: str | None = None
        self.correspondents: dict[int, None] = {}
        self.host: str | None = None
        self.account: str | None = None
        self.asked: str | None = None
        self.asking = False
        self.busy = False

    def __repr__(self) -> str:
        return f"<Session {self.name or '?'} {self.state.value}>"


class Room(Generic[P]):
    """A room's shown name, its members in join order (a dict as an ordered
    set) and their names kept sorted, so a join into a big room costs no sort."""

    __slots__ = ("_order", "members", "name", "names", "topic", "view")

    def __init__(self, name: str) -> None:
        self.name = name
        self.topic = ""
        self.members: dict[Session[P], None] = {}
        self.view = self.members.keys()
        self.names: list[str] = []
        self._order: list[tuple[str, str]] = []

    def add(self, session: Session[P]) -> None:
        self.members[session] = None
        self._insert(session.name)

    def remove(self, session: Session[P]) -> None:
        del self.members[session]
        self._delete(session.name)

    def rename(self, old: str, new: str) -> None:
        self._delete(old)
        self._insert(new)

    def _insert(self, name: str) -> None:
        at = bisect.bisect(self._order, _order(name))
        self._order.insert(at, _order(name))
        self.names.insert(at, name)

    def _delete(self, name: str) -> None:
        at = bisect.bisect_left(self._order, _order(name))
        del self._order[at]
        del self.names[at]


def _order(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


class Registry(Generic[P]):
    """Named sessions by name key, and rooms by room key.

    A room exists while someone is in it; the first one in names it.
    """

    __slots__ = ("_by_key", "_by_look", "_rooms")

    def __init__(self) -> None:
        self._by_key: dict[str, Session[P]] = {}
        self._by_look: dict[str, Session[P]] = {}
        self._rooms: dict[str, Room[P]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Session[P] | None:
        return self._by_key.get(key)

    def claim(self, name: Name) -> str | None:
        """None if `name` is free; else the name online that it is, or looks like."""
        holder = self._by_key.get(name.key) or self._by_look.get(name.skeleton)
        return holder.name if holder is not None else None

    def add(self, session: Session[P], name: Name, room: Name) -> None:
        if name.key in self._by_key:
            raise KeyError(f"{name.display} is taken")
        session.name, session.key = name.display, name.key
        self._by_key[name.key] = session
        self._by_look[name.skeleton] = session
        self.enter(session, room)

    def remove(self, session: Session[P]) -> None:
        """Forget the name and leave every room."""
        del self._by_key[session.key]
        self._by_look.pop(Name(session.name, session.key).skeleton, None)
        for room in list(session.rooms):
            self.leave(session, room)

    def enter(self, session: Session[P], room: Name) -> None:
        """Enter a room (creating it); it becomes the session's current room."""
        if room.key not in self._rooms:
            self._rooms[room.key] = Room(room.display)
        if room.key not in session.rooms:
            self._rooms[room.key].add(session)
            session.rooms[room.key] = None
        session.room = room.key

    def leave(self, session: Session[P], room: str) -> None:
        """Leave one room; the current room becomes the last one entered that is left."""
        found = self._rooms[room]
        found.remove(session)
        if not found.members:
            del self._rooms[room]
        del session.rooms[room]
        if session.room == room:
            session.room = next(reversed(session.rooms), "")

    def rename(self, session: Session[P], name: Name) -> None:
        holder = self._by_key.get(name.key)
        if holder is not None and holder is not session:
            raise KeyError(f"{name.display} is taken")
        del self._by_key[session.key]
        self._by_look.pop(Name(session.name, session.key).skeleton, None)
        self._by_key[name.key] = session
        self._by_look[name.skeleton] = session
        for room in session.rooms:
            self._rooms[room].rename(session.name, name.display)
        session.name, session.key = name.display, name.key

    def members(self, room: str) -> Collection[Session[P]]:
        """The room's sessions, in the order they entered (a live view: resolve at once)."""
        found = self._rooms.get(room)
        return found.view if found is not None else ()

    def head_count(self, room: str) -> int:
        found = self._rooms.get(room)
        return len(found.members) if found is not None else 0

    def away(self, room: str) -> frozenset[str]:
        return frozenset(s.name for s in self.members_everywhere(room) if s.away is not None)

    def members_everywhere(self, room: str) -> Collection[Session[P]]:
        """Everyone in the room (in one process: its members)."""
        return self.members(room)

    def set_away(self, session: Session[P], message: str | None) -> None:
        session.away = message

    def remote(self, id: int) -> Session[P] | None:
        return None

    def names(self, room: str) -> tuple[str, ...]:
        """The room's names, sorted without regard to case."""
        found = self._rooms.get(room)
        return tuple(found.names) if found is not None else ()

    def room_count(self) -> int:
        return len(self._rooms)

    def has_room(self, room: str) -> bool:
        return room in self._rooms

    def room_name(self, room: str) -> str:
        return self._rooms[room].name

    def topic(self, room: str) -> str:
        found = self._rooms.get(room)
        return found.topic if found is not None else ""

    def set_topic(self, room: str, topic: str) -> None:
        self._rooms[room].topic = topic

    def rooms(self) -> tuple[tuple[str, int], ...]:
        """Every room with its head count, sorted by name without case."""
        listed = ((room.name, self.head_count(key)) for key, room in self._rooms.items())
        return tuple(sorted(listed, key=lambda pair: pair[0].casefold()))
