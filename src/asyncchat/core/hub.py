"""Routing decisions: a typed command from one session in, effects out.

No sockets and no event loop: a front end hands in commands, and the edge
carries the returned effects out, in order, before it calls the hub again
(it resolves their room keys against the directory as it does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Generic, assert_never

import asyncchat.core.commands as cmd
from asyncchat.config import MIB, ServerConfig
from asyncchat.core.addresses import Admission
from asyncchat.core.directory import Directory, HistoryStore
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    AskName,
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
    Online,
    Pong,
    Private,
    PrivateSent,
    Record,
    Renamed,
    RoomEntered,
    Rooms,
    Said,
    ShuttingDown,
    Welcome,
)
from asyncchat.core.history import RecentHistory
from asyncchat.core.ignores import MAX_IGNORED, IgnoreTable
from asyncchat.core.logthrottle import WarningThrottle
from asyncchat.core.lookalike import mixes_scripts
from asyncchat.core.names import (
    MIXED_SCRIPTS,
    RESERVED,
    InvalidName,
    LooksLike,
    Name,
    looks_like_name,
    name_key,
    parse_name,
    parse_room,
)
from asyncchat.core.registry import MAX_CORRESPONDENTS, P, Registry, Session, State
from asyncchat.core.sanitize import escape_forbidden

LOBBY = Name("lobby", "lobby")
log = logging.getLogger(__name__)


def _correspond(session: Session[P], other: int) -> None:
    """Remember a private partner, the most recent MAX_CORRESPONDENTS only."""
    partners = session.correspondents
    partners.pop(other, None)
    partners[other] = None
    if len(partners) > MAX_CORRESPONDENTS:
        del partners[next(iter(partners))]


def _shown(text: str, limit: int = 40) -> str:
    """A user's raw input, quotable in an error: control characters made visible."""
    visible = escape_forbidden(text)
    return visible if len(visible) <= limit else visible[: limit - 1] + "…"


def _looks_like(wanted: str, other: str) -> str:
    return f"'{_shown(wanted)}' looks too much like '{other}'"


def _not_valid(wanted: str, problem: InvalidName, what: str = "name") -> str:
    return f"'{_shown(wanted)}' is not a valid {what}: {problem}"


class Hub(Generic[P]):
    """Everything the server decides, for all connections at once."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        directory: Directory[P] | None = None,
        store: HistoryStore | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`directory` knows names and rooms (default: in this process); `store`
        keeps public lines (default: none, history lives in memory only)."""
        self._config = config
        self.directory: Directory[P] = directory if directory is not None else Registry()
        self._sessions: dict[int, Session[P]] = {}
        self._last_id = 0
        self._last_message = 0
        self._admission = Admission(config.address_limits, monotonic)
        self._ignores: IgnoreTable[P] = IgnoreTable()
        self._keep = store.put if store is not None else None
        self._clock = clock
        self.history = RecentHistory(
            config.history,
            config.history_memory * MIB,
            store.recent if store is not None else None,
        )
        self.warnings = WarningThrottle(log, monotonic)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    @property
    def online(self) -> int:
        return len(self.directory)

    def members(self, room: str) -> Collection[Session[P]]:
        """The room's sessions now: for the edge to resolve a `ToRoom` at once."""
        return self.directory.members(room)

    def session(self, id: int) -> Session[P] | None:
        """The session with this id while it is connected."""
        return self._sessions.get(id)

    def find(self, name: str) -> Session[P] | None:
        """The session online under this name (compared without case), if any."""
        return self.directory.get(name_key(name))

    def connect(self, peer: P, host: str | None = None) -> tuple[Session[P], list[Effect]]:
        """A new connection from `host` (an IP address, or None if it has none);
        a full server or an address over its limits refuses it (the session is born GONE)."""
        self._last_id += 1
        session = Session(peer, self._last_id)
        if len(self._sessions) >= self._config.max_clients:
            full = self._config.max_clients
            self.warnings.warn("full", f"refused a connection: server is full ({full})")
            return self._refused(session, Error(ErrorCode.SERVER_FULL, "server is full"))
        admitted, session.address = self._admission.admit(host)
        if not admitted:
            self.warnings.warn("per-ip", f"refused a connection from {host}: too many from it")
            text = "too many connections from your address"
            return self._refused(session, Error(ErrorCode.TOO_MANY_CONNECTIONS, text))
        self._sessions[session.id] = session
        return session, [self._to(session, Welcome())]

    def _message_id(self) -> int:
        self._last_message += 1
        return self._last_message

    def _refused(self, session: Session[P], error: Error) -> tuple[Session[P], list[Effect]]:
        session.state = State.GONE
        return session, [self._to(session, error), Close(session.id)]

    def handle(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        """Carry out one command; a front end parses its own syntax into these."""
        if session.state is State.GONE:
            return []
        if session.state is State.NAMING:
            if isinstance(command, cmd.Register):
                return self._register(session, command.name)
            return self._refuse_name(session, "choose a name first")
        return self._execute(session, command)

    def expire(self, session: Session[P]) -> list[Effect]:
        """Registration time ran out; a named session is not affected."""
        if session.state is not State.NAMING:
            return []
        self._forget(session)
        seconds = f"{self._config.register_timeout:g}"
        self.warnings.warn("expired", f"closed a connection that gave no name within {seconds} s")
        text = f"no name given within {seconds} seconds; goodbye"
        return [self._to(session, Error(ErrorCode.REGISTER_TIMEOUT, text)), Close(session.id)]

    def leave(
        self, session: Session[P], reason: LeaveReason, message: str | None = None
    ) -> list[Effect]:
        """The connection is gone (or going); tell its rooms."""
        if session.state is not State.CHATTING:
            self._forget(session)
            return []
        rooms = tuple(session.rooms)
        shown = self.directory.room_name(rooms[0]) if len(rooms) == 1 else ""
        self._forget(session)
        log.info("%s left (%s)", session.name, reason.value)
        if not rooms:
            return []
        # One notice for everyone who shared any room: the user is gone from all.
        return [Delivery(Left(session.name, reason, message, shown), ToRooms(rooms))]

    def shutdown(self) -> list[Effect]:
        """Tell every connection, named or not, and forget them all.

        No per-user `left` lines: everyone leaves at the same moment, and
        N² such lines would hold up the exit of a big server.
        """
        everyone = tuple(self._sessions.values())
        log.info("shutting down: closing %d connections", len(everyone))
        for session in everyone:
            self._forget(session)
        ids = tuple(session.id for session in everyone)
        return [Delivery(ShuttingDown(), ToSessions(ids)), *(Close(id) for id in ids)]

    def _forget(self, session: Session[P]) -> None:
        named = session.state is State.CHATTING
        if named:
            self.directory.remove(session)
            self._ignores.forget(session)
        if session.state is not State.GONE:
            del self._sessions[session.id]
            self._admission.release(session.address, was_named=named)
        session.state = State.GONE

    @staticmethod
    def _to(session: Session[P], event: Event) -> Delivery:
        return Delivery(event, ToSession(session.id))

    def _register(self, session: Session[P], wanted: str) -> list[Effect]:
        wanted = wanted.strip()
        if not wanted:
            return []
        try:
            name = parse_name(wanted)
        except LooksLike as looks:
            return self._refuse_name(session, _looks_like(wanted, looks.other), taken=True)
        except InvalidName as problem:
            return self._refuse_name(session, _not_valid(wanted, problem))
        return [ClaimName(session.id, name.display, name.key)]

    def claimed(self, claim: ClaimName, holder: str | None) -> list[Effect]:
        """The directory's answer to a `ClaimName`: `holder` is None when the name is
        free, else the name held that it is or looks like. Named (or renamed), or refused."""
        session = self._sessions.get(claim.session)
        display, key = claim.display, claim.key
        if session is None or holder == session.name:
            holder = None  # one's own name, or a look of it (a change of case, say)
        if session is None:
            return []
        refusal = None
        if holder is not None:
            refusal = (
                f"the name '{display}' is taken"
                if name_key(holder) == key
                else _looks_like(display, holder)
            )
        elif mixes_scripts(display):  # after the look-alike check: that says more
            refusal = f"'{_shown(display)}' is not a valid name: {MIXED_SCRIPTS}"
        if claim.rename:
            if session.state is not State.CHATTING:
                return []
            if refusal is not None:
                return [self._error(session, ErrorCode.NAME_TAKEN, refusal)]
            return self._renamed(session, Name(display, key))
        if session.state is not State.NAMING:
            return []
        if refusal is not None:
            return self._refuse_name(session, refusal, taken=True)
        name = Name(display, key)
        self.directory.add(session, name, LOBBY)
        session.state = State.CHATTING
        self._admission.named(session.address)
        members = self.directory.members(LOBBY.key)
        log.info("%s joined (%d online)", name.display, len(self.directory))
        return [
            self._to(session, Hello(name.display, self.directory.names(LOBBY.key))),
            Delivery(
                Joined(name.display, len(members), room=self.directory.room_name(LOBBY.key)),
                ToRoom(LOBBY.key, session.id),
            ),
            *self._history(session, LOBBY.key),
        ]

    def _history(self, session: Session[P], room: str) -> list[Effect]:
        records = self.history.recent(room)
        if records and self._ignores.names(session):
            records = tuple(
                r for r in records if not self._ignores.ignores(session, name_key(r.sender))
            )
        if not records:
            return []
        shown = self.directory.room_name(room)
        return [
            self._to(session, HistoryStart(shown)),
            *(self._to(session, HistoryLine(record)) for record in records),
            self._to(session, HistoryEnd(shown)),
        ]

    def _room_of(self, session: Session[P], wanted: str | None) -> str | Delivery:
        """The key of a room the session is in: `wanted`, or its current room."""
        if wanted is None:
            if session.room:
                return session.room
            return self._error(session, ErrorCode.BAD_COMMAND, "you are in no room; /join one")
        try:
            key = parse_room(wanted).key
        except InvalidName as problem:
            return self._error(session, ErrorCode.BAD_NAME, _not_valid(wanted, problem, "room"))
        if key not in session.rooms:
            text = f"you are not in #{_shown(wanted.removeprefix('#'))}"
            return self._error(session, ErrorCode.BAD_COMMAND, text)
        return key

    def _said(
        self, session: Session[P], text: str, action: bool, wanted: str | None
    ) -> list[Effect]:
        room = session.room if wanted is None and session.room else self._room_of(session, wanted)
        if isinstance(room, Delivery):
            return [room]
        self._last_message += 1
        record = Record(room, self._clock(), session.name, text, action, self._last_message)
        self.history.add(record)
        if self._keep is not None:
            self._keep(record)
        ignorers = self._ignores.ignorers(session.key)
        if ignorers:
            skip = frozenset(ignorer.id for ignorer in ignorers)
            return [Delivery(Said(record), ToRoom(room, session.id, skip))]
        return [Delivery(Said(record), ToRoom(room, session.id))]

    def _join(self, session: Session[P], wanted: str, keep_others: bool) -> list[Effect]:
        try:
            room = parse_room(wanted)
        except InvalidName as problem:
            text = _not_valid(wanted, problem, "room name")
            return [self._error(session, ErrorCode.BAD_NAME, text)]
        if room.key in session.rooms and (keep_others or room.key == session.room):
            text = f"you are already in #{self.directory.room_name(room.key)}"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        leaving = [] if keep_others else [key for key in session.rooms if key != room.key]
        if (
            room.key != LOBBY.key
            and not self.directory.has_room(room.key)
            and self._rooms_full(session, leaving)
        ):
            text = "too many rooms; join an existing one (/rooms)"
            self.warnings.warn("rooms", f"refused a new room: {self._config.max_rooms} exist")
            return [self._error(session, ErrorCode.TOO_MANY_ROOMS, text)]
        effects: list[Effect] = []
        for key in leaving:
            shown = self.directory.room_name(key)
            self.directory.leave(session, key)
            effects.append(Delivery(Left(session.name, LeaveReason.MOVED, room=shown), ToRoom(key)))
        already = room.key in session.rooms
        self.directory.enter(session, room)
        entered = self.directory.room_name(room.key)
        if already:  # it was there all along: it only becomes the current room
            return [
                *effects,
                self._to(session, RoomEntered(entered, self.directory.names(room.key))),
            ]
        here = self.directory.members(room.key)
        return [
            *effects,
            self._to(session, RoomEntered(entered, self.directory.names(room.key))),
            Delivery(
                Joined(session.name, len(here), moved=True, room=entered),
                ToRoom(room.key, session.id),
            ),
            *self._history(session, room.key),
        ]

    def _part(self, session: Session[P], wanted: str, reason: str | None) -> list[Effect]:
        room = self._room_of(session, wanted)
        if isinstance(room, Delivery):
            return [room]
        shown = self.directory.room_name(room)
        self.directory.leave(session, room)
        left = Left(session.name, LeaveReason.PARTED, reason, shown)
        return [self._to(session, left), Delivery(left, ToRoom(room))]

    def _refuse_name(self, session: Session[P], text: str, *, taken: bool = False) -> list[Effect]:
        code = ErrorCode.NAME_TAKEN if taken else ErrorCode.BAD_NAME
        return [self._to(session, Error(code, text)), self._to(session, AskName())]

    def _execute(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        match command:
            case cmd.Say(text, room):
                return self._said(session, text, False, room)
            case cmd.Act(text, room):
                return self._said(session, text, True, room)
            case cmd.Whisper(target, text):
                return self._whisper(session, target, text)
            case cmd.Reply(text):
                return self._reply(session, text)
            case cmd.Who(wanted):
                here = self._room_of(session, wanted)
                if isinstance(here, Delivery):
                    return [here]
                names = self.directory.names(here)
                away = frozenset(s.name for s in self.directory.members(here) if s.away is not None)
                return [self._to(session, Online(names, away))]
            case cmd.Join(room, keep_others):
                return self._join(session, room, keep_others)
            case cmd.Part(room, reason):
                return self._part(session, room, reason)
            case cmd.ListRooms():
                return [self._to(session, Rooms(self.directory.rooms()))]
            case cmd.Nick(wanted):
                return self._rename(session, wanted)
            case cmd.Ping(token):
                return [self._to(session, Pong(token))]
            case cmd.Help(topic):
                return [self._to(session, HelpText(topic))]
            case cmd.Away(message):
                session.away = message
                return [self._to(session, AwayState(message))]
            case cmd.Ignore(name):
                return self._ignore(session, name)
            case cmd.Unignore(name):
                return self._unignore(session, name)
            case cmd.Quit(reason):
                bye = self._to(session, Bye(session.name))
                return [bye, *self.leave(session, LeaveReason.QUIT, reason), Close(session.id)]
            case cmd.Unknown(word):
                text = f"unknown command '{_shown(word)}' (try /help)"
                return [self._error(session, ErrorCode.UNKNOWN_COMMAND, text)]
            case cmd.Malformed(problem):
                return [self._error(session, ErrorCode.BAD_COMMAND, problem)]
            case cmd.Register(_):
                text = f"you are {session.name} already (/nick NEWNAME changes it)"
                return [self._error(session, ErrorCode.BAD_COMMAND, text)]
            case _:
                assert_never(command)

    def _rooms_full(self, session: Session[P], leaving: list[str]) -> bool:
        """A new room for `session` would pass --max-rooms.

        The rooms it leaves count as gone if they would be empty, and one
        slot is always kept for the lobby, so registering never fails for it.
        """
        directory = self.directory
        freed = [room for room in leaving if len(directory.members(room)) == 1]
        after = directory.room_count() + 1 - len(freed)
        lobby_missing = not directory.has_room(LOBBY.key) or LOBBY.key in freed
        return after + lobby_missing > self._config.max_rooms

    def _online(self, session: Session[P], wanted: str) -> Session[P] | Delivery:
        """The user online under `wanted`, or the error to send."""
        found = self.directory.get(name_key(wanted)) if looks_like_name(wanted) else None
        if found is None:
            text = f"no one called '{_shown(wanted)}' is online"
            return self._error(session, ErrorCode.NO_SUCH_USER, text)
        return found

    def _ignore(self, session: Session[P], wanted: str | None) -> list[Effect]:
        if wanted is None:
            return [self._to(session, IgnoreList(self._ignores.names(session)))]
        target = self._online(session, wanted)
        if isinstance(target, Delivery):
            return [target]
        if target is session:
            return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot ignore yourself")]
        if not self._ignores.ignore(session, target.key, target.name):
            text = f"you ignore {MAX_IGNORED} names already; /unignore one first"
            return [self._error(session, ErrorCode.TOO_MANY_IGNORED, text)]
        return [self._to(session, Ignoring(target.name, on=True))]

    def _unignore(self, session: Session[P], wanted: str) -> list[Effect]:
        name = self._ignores.unignore(session, name_key(wanted))
        if name is None:
            text = f"you are not ignoring '{_shown(wanted)}' (/ignore lists whom you ignore)"
            return [self._error(session, ErrorCode.NOT_IGNORING, text)]
        return [self._to(session, Ignoring(name, on=False))]

    def _error(self, session: Session[P], code: ErrorCode, text: str) -> Delivery:
        return self._to(session, Error(code, text))

    def _whisper(self, session: Session[P], target: str, text: str) -> list[Effect]:
        if not looks_like_name(target):
            problem = f"'{_shown(target)}' is not a valid name; nothing was sent"
            return [self._error(session, ErrorCode.NO_SUCH_USER, problem)]
        key = name_key(target)
        recipient = self.directory.get(key)
        if recipient is None:
            problem = f"no one called '{_shown(target)}' is online; nothing was sent"
            if key in RESERVED:
                problem += " (to write to everyone, just type the message, or use /all)"
            return [self._error(session, ErrorCode.NO_SUCH_USER, problem)]
        return self._deliver_private(session, recipient, text)

    def _reply(self, session: Session[P], text: str) -> list[Effect]:
        if session.reply_to is None:
            problem = "no one has sent you a private message yet; nothing was sent"
            return [self._error(session, ErrorCode.NO_REPLY_TARGET, problem)]
        wanted, name = session.reply_to
        recipient = self._sessions.get(wanted)
        if recipient is None or recipient.state is not State.CHATTING:
            problem = f"{name} has left; nothing was sent"
            return [self._error(session, ErrorCode.NO_SUCH_USER, problem)]
        session.reply_to = (wanted, recipient.name)
        return self._deliver_private(session, recipient, text)

    def _deliver_private(
        self, session: Session[P], recipient: Session[P], text: str
    ) -> list[Effect]:
        if recipient is session:
            problem = "you cannot send a private message to yourself"
            return [self._error(session, ErrorCode.SELF_MESSAGE, problem)]
        sent: list[Effect] = [self._to(session, PrivateSent(recipient.name, text))]
        if recipient.away is not None:
            sent.append(self._to(session, IsAway(recipient.name, recipient.away)))
        if self._ignores.ignores(recipient, session.key):
            return sent
        recipient.reply_to = (session.id, session.name)
        _correspond(session, recipient.id)
        _correspond(recipient, session.id)
        private = Private(session.name, text, self._clock(), self._message_id())
        return [self._to(recipient, private), *sent]

    def _rename(self, session: Session[P], wanted: str) -> list[Effect]:
        try:
            name = parse_name(wanted)
        except LooksLike as looks:
            return [self._error(session, ErrorCode.NAME_TAKEN, _looks_like(wanted, looks.other))]
        except InvalidName as problem:
            return [self._error(session, ErrorCode.BAD_NAME, _not_valid(wanted, problem))]
        if name.display == session.name:
            return [self._error(session, ErrorCode.BAD_NAME, f"you are already {name.display}")]
        if name.key == session.key:  # a change of case: the name is already ours
            return self._renamed(session, name)
        return [ClaimName(session.id, name.display, name.key, rename=True)]

    def _renamed(self, session: Session[P], name: Name) -> list[Effect]:
        old, old_key = session.name, session.key
        self.directory.rename(session, name)
        self._ignores.renamed(old_key, name.key, name.display)
        log.info("%s is now %s", old, name.display)
        renamed = Renamed(old, name.display)
        effects: list[Effect] = (
            [Delivery(renamed, ToRooms(tuple(session.rooms)))]
            if session.rooms
            else [self._to(session, renamed)]  # in no room: the renamer is still told
        )
        elsewhere = tuple(
            id
            for id in session.correspondents
            if (other := self._sessions.get(id)) is not None
            and other.state is State.CHATTING
            and other.rooms.keys().isdisjoint(session.rooms)
        )
        if elsewhere:  # private partners in other rooms learn the new name too
            effects.append(Delivery(renamed, ToSessions(elsewhere)))
        return effects
