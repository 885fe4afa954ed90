"""Who is online: name → session, and room → members.

The only place that knows how sessions are indexed, so the hub reads as
routing decisions and the edge never touches these maps.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import Generic, TypeVar

from .names import Name

P = TypeVar("P")


class State(Enum):
    NAMING = "naming"
    CHATTING = "chatting"
    GONE = "gone"


class Session(Generic[P]):
    """One connection as the hub sees it; `peer` is the edge's handle for sending."""

    __slots__ = ("key", "name", "peer", "reply_to", "room", "state")

    def __init__(self, peer: P) -> None:
        self.peer = peer
        self.state = State.NAMING
        self.name = ""
        self.key = ""
        self.room = ""
        self.reply_to: Session[P] | None = None

    def __repr__(self) -> str:
        return f"<Session {self.name or '?'} {self.state.value}>"


class Registry(Generic[P]):
    """Named sessions by name key, and the members of each room in join order."""

    __slots__ = ("_by_key", "_rooms")

    def __init__(self) -> None:
        self._by_key: dict[str, Session[P]] = {}
        self._rooms: dict[str, dict[Session[P], None]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Session[P] | None:
        return self._by_key.get(key)

    def add(self, session: Session[P], name: Name, room: str) -> None:
        if name.key in self._by_key:
            raise KeyError(f"{name.display} is taken")
        session.name, session.key, session.room = name.display, name.key, room
        self._by_key[name.key] = session
        self._rooms.setdefault(room, {})[session] = None

    def remove(self, session: Session[P]) -> None:
        del self._by_key[session.key]
        members = self._rooms[session.room]
        del members[session]
        if not members:
            del self._rooms[session.room]

    def rename(self, session: Session[P], name: Name) -> None:
        holder = self._by_key.get(name.key)
        if holder is not None and holder is not session:
            raise KeyError(f"{name.display} is taken")
        del self._by_key[session.key]
        self._by_key[name.key] = session
        session.name, session.key = name.display, name.key

    def members(self, room: str) -> Collection[Session[P]]:
        """A live view: dispatch it before the registry changes again."""
        return self._rooms.get(room, {}).keys()

    def names(self, room: str) -> tuple[str, ...]:
        return tuple(sorted((s.name for s in self.members(room)), key=str.casefold))
