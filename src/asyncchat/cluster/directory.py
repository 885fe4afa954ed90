"""The directory of one node of a cluster: its own sessions, and mirrors of the
other nodes' sessions, kept from the states they publish.

Pure: no sockets, no Redis. `members(room)` gives only this node's sessions
(the fan-out loops over those alone); names, head counts and away marks
count everyone. Every change to one of this node's sessions is noted, so
the edge can publish the session's new state with the events it caused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from asyncchat.core.names import Name
from asyncchat.core.registry import P, Registry, Room, Session, State

NODE_SHIFT = 32
"""A session's (and a message's) id is its node's number shifted by this, plus a count."""


def node_of(id: int) -> int:
    return id >> NODE_SHIFT


@dataclass(frozen=True, slots=True)
class SessionState:
    """What other nodes need to know of a session: published on every change."""

    id: int
    name: str
    key: str
    rooms: tuple[tuple[str, str], ...]
    """(key, shown name) of each room it is in, in the order it entered them."""
    room: str
    away: str | None = None
    host: str | None = None


@dataclass(slots=True)
class Changes:
    """What happened to this node's sessions and rooms since the last `drain`."""

    states: list[SessionState] = field(default_factory=list)
    gone: list[SessionState] = field(default_factory=list)
    """Sessions that left: their last state (its names are to be released)."""
    renamed: list[SessionState] = field(default_factory=list)
    """The state before each rename (the old name is to be released)."""
    topics: dict[str, str | None] = field(default_factory=dict)
    """A room's new topic; None: the room is gone (its topic is forgotten)."""
    evicted: list[int] = field(default_factory=list)
    """Other nodes' sessions this node removed (a kick, a ban, a ghost): their nodes
    drop them too."""

    def __bool__(self) -> bool:
        return bool(self.states or self.gone or self.renamed or self.topics or self.evicted)


class SharedRoom(Room[P]):
    """A room whose `members` are this node's sessions and `remote` the others'."""

    __slots__ = ("remote",)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.remote: dict[Session[P], None] = {}

    def add_remote(self, session: Session[P]) -> None:
        self.remote[session] = None
        self._insert(session.name)

    def remove_remote(self, session: Session[P]) -> None:
        del self.remote[session]
        self._delete(session.name)


class ClusterDirectory(Registry[P]):
    """Names and rooms of the whole cluster, as this node knows them."""

    __slots__ = (
        "_changed",
        "_evicted",
        "_gone",
        "_remote",
        "_renamed",
        "_shadowed",
        "_topics",
        "node",
        "placeholder",
    )

    def __init__(self, node: int, placeholder: P) -> None:
        """`placeholder` is the peer of other nodes' sessions: never written to."""
        super().__init__()
        self.node = node
        self.placeholder = placeholder
        self._remote: dict[int, Session[P]] = {}
        self._changed: dict[int, Session[P]] = {}
        self._gone: list[SessionState] = []
        self._renamed: list[SessionState] = []
        self._topics: dict[str, str | None] = {}
        self._evicted: list[int] = []
        self._shadowed: dict[str, Session[P]] = {}
        """Another node's session kept out of a name's entry by one of ours, by key."""

    def is_local(self, session: Session[P]) -> bool:
        return node_of(session.id) == self.node

    def _room(self, room: str) -> SharedRoom[P]:
        found = self._rooms[room]
        assert isinstance(found, SharedRoom)
        return found

    def _index(self, session: Session[P], name: Name) -> None:
        """Index `session` under `name`. A different holder still indexed there is a
        mirror not yet told of its rename or departure (Redis gave the name to
        this one): it loses that entry, not its place in its rooms. A session of
        this node keeps its index against another node's: Redis gave it the name,
        so the other's state is the stale one."""
        for table, key in ((self._by_key, name.key), (self._by_look, name.skeleton)):
            holder = table.get(key)
            if holder is not None and self.is_local(holder) and not self.is_local(session):
                self._shadowed[key] = session  # it gets the entry when ours goes
                continue
            table[key] = session

    def _unindex(self, session: Session[P]) -> None:
        look = Name(session.name, session.key).skeleton
        for table, key in ((self._by_key, session.key), (self._by_look, look)):
            if table.get(key) is session:
                del table[key]
                waiting = self._shadowed.pop(key, None)
                if waiting is not None and self._remote.get(waiting.id) is waiting:
                    shown = Name(waiting.name, waiting.key)
                    if key in (shown.key, shown.skeleton):
                        table[key] = waiting
            elif self._shadowed.get(key) is session:
                del self._shadowed[key]

    def _note(self, session: Session[P]) -> None:
        if self.is_local(session):
            self._changed[session.id] = session

    def add(self, session: Session[P], name: Name, room: Name | None) -> None:
        session.name, session.key = name.display, name.key
        self._index(session, name)
        if not self.is_local(session):
            self._remote[session.id] = session
        if room is not None:
            self.enter(session, room)
        self._note(session)

    def remove(self, session: Session[P]) -> None:
        if self.is_local(session):
            self._gone.append(self.state_of(session))
        else:
            self._remote.pop(session.id, None)
            if session.state is State.CHATTING:  # this node's decision, not a mirror's update
                self._evicted.append(session.id)
        self._unindex(session)
        for room in list(session.rooms):
            self.leave(session, room)
        self._changed.pop(session.id, None)

    def enter(self, session: Session[P], room: Name) -> None:
        if room.key not in self._rooms:
            self._rooms[room.key] = SharedRoom(room.display)
        if room.key not in session.rooms:
            found = self._room(room.key)
            if self.is_local(session):
                found.add(session)
            else:
                found.add_remote(session)
            session.rooms[room.key] = None
        session.room = room.key
        self._note(session)

    def leave(self, session: Session[P], room: str) -> None:
        found = self._room(room)
        if session in found.members:
            found.remove(session)
        else:
            found.remove_remote(session)
        if not found.members and not found.remote:
            del self._rooms[room]
            if found.topic:
                self._topics[room] = None
        del session.rooms[room]
        if session.room == room:
            session.room = next(reversed(session.rooms), "")
        self._note(session)

    def rename(self, session: Session[P], name: Name) -> None:
        if self.is_local(session):
            self._renamed.append(self.state_of(session))
        self._unindex(session)
        self._index(session, name)
        for room in session.rooms:
            self._rooms[room].rename(session.name, name.display)
        session.name, session.key = name.display, name.key
        self._note(session)

    def set_topic(self, room: str, topic: str) -> None:
        super().set_topic(room, topic)
        self._topics[room] = topic

    def set_away(self, session: Session[P], message: str | None) -> None:
        session.away = message
        self._note(session)

    def head_count(self, room: str) -> int:
        found = self._rooms.get(room)
        return len(found.members) + len(found.remote) if isinstance(found, SharedRoom) else 0

    def remote(self, id: int) -> Session[P] | None:
        return self._remote.get(id)

    # What other nodes publish.

    def state_of(self, session: Session[P]) -> SessionState:
        rooms = tuple((key, self._rooms[key].name) for key in session.rooms)
        return SessionState(
            session.id, session.name, session.key, rooms, session.room, session.away, session.host
        )

    def upsert(self, state: SessionState) -> tuple[Session[P], str | None]:
        """Make another node's session what its node says it is now; returns it and
        its old name key when this changed its name (else None)."""
        session = self._remote.get(state.id)
        old_key = None
        name = Name(state.name, state.key)
        if session is None:
            session = Session(self.placeholder, state.id)
            session.state = State.CHATTING
            session.host = state.host
            self.add(session, name, None)
        elif session.name != state.name:
            old_key = session.key
            self.rename(session, name)
        wanted = dict(state.rooms)
        for room in [key for key in session.rooms if key not in wanted]:
            self.leave(session, room)
        for key, shown in state.rooms:
            if key not in session.rooms:
                self.enter(session, Name(shown, key))
        session.room = state.room if state.room in session.rooms else session.room
        session.away = state.away
        return session, old_key if old_key != state.key else None

    def apply_topic(self, room: str, topic: str | None) -> None:
        """Another node's /topic (the room may be gone here meanwhile)."""
        if room in self._rooms and topic is not None:
            super().set_topic(room, topic)

    def sessions_of(self, node: int) -> list[Session[P]]:
        return [s for s in self._remote.values() if node_of(s.id) == node]

    def nodes(self) -> set[int]:
        """The other nodes with sessions here."""
        return {node_of(id) for id in self._remote}

    def local_sessions(self) -> Iterator[Session[P]]:
        return (s for s in self._by_key.values() if self.is_local(s))

    def members_everywhere(self, room: str) -> Collection[Session[P]]:
        found = self._rooms.get(room)
        return (*found.members, *found.remote) if isinstance(found, SharedRoom) else ()

    def drain(self) -> Changes:
        """What changed since the last drain (each session's state as it is now)."""
        changes = Changes(
            [self.state_of(s) for s in self._changed.values() if s.state is not State.GONE],
            self._gone,
            self._renamed,
            self._topics,
            self._evicted,
        )
        self._changed, self._gone, self._renamed, self._topics = {}, [], [], {}
        self._evicted = []
        return changes
