"""Routing decisions: a typed command from one session in, effects out.

No sockets and no event loop: a front end hands in commands, and the edge
carries the returned effects out, in order, before it calls the hub again
(it resolves their room keys against the directory as it does).
"""

from __future__ import annotations

import logging
import math
import time
import unicodedata
from collections.abc import Callable, Collection
from typing import Generic, assert_never

import asyncchat.core.commands as cmd
from asyncchat.config import MIB, ServerConfig
from asyncchat.core.accounts import Account, AccountBook
from asyncchat.core.addresses import Admission
from asyncchat.core.attempts import Attempts
from asyncchat.core.directory import AccountStore, Directory, HistoryStore
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    PasswordWork,
    Purpose,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    AccountChange,
    AccountState,
    AskName,
    AskPassword,
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
    Wall,
    Welcome,
)
from asyncchat.core.history import RecentHistory
from asyncchat.core.ignores import MAX_IGNORED, IgnoreTable
from asyncchat.core.logthrottle import WarningThrottle
from asyncchat.core.lookalike import mixes_scripts
from asyncchat.core.moderation import (
    Ban,
    BanKind,
    BanList,
    Mute,
    MuteList,
    covers,
    parse_network,
)
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
from asyncchat.core.passwords import password_problem
from asyncchat.core.registry import MAX_CORRESPONDENTS, P, Registry, Session, State
from asyncchat.core.sanitize import escape_forbidden

LOBBY = Name("lobby", "lobby")
MAX_HASHING = 64
"""Password hashes queued or running at once; past it, a try is answered "busy"."""
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


def _ban_text(ban: Ban) -> str:
    return "you are banned" + (f": {ban.reason}" if ban.reason else "")


def _minutes(minutes: int | None) -> str:
    return "" if minutes is None else f" for {minutes} minute{'s' if minutes != 1 else ''}"


class Hub(Generic[P]):
    """Everything the server decides, for all connections at once."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        directory: Directory[P] | None = None,
        store: HistoryStore | None = None,
        kept: AccountStore | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`directory` knows names and rooms (default: in this process); `store`
        keeps public lines and `kept` accounts, bans and mutes (default: none,
        they live in memory only)."""
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
        self._monotonic = monotonic
        self._kept = kept
        self.accounts = AccountBook(config.max_accounts, kept.accounts() if kept else None)
        self.bans = BanList(config.max_bans, kept.bans() if kept else None)
        self.mutes = MuteList(config.max_bans, kept.mutes() if kept else None)
        self._attempts = Attempts()
        self._hashing = 0
        self._opers = frozenset(name_key(name) for name in config.oper)
        for name in config.oper:
            if self.accounts.get(name_key(name)) is None:
                log.warning(
                    "--oper %s: that name is not registered yet; register it before anyone else",
                    name,
                )

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
        session.host = host
        ban = self.bans.for_address(host, self._clock()) if len(self.bans) else None
        if ban is not None:
            self.warnings.warn("banned", f"refused a connection from {host}: banned")
            return self._refused(session, Error(ErrorCode.BANNED, _ban_text(ban)))
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
        if session.busy:  # the edge holds input meanwhile; this is a caller's mistake
            return [self._error(session, ErrorCode.BUSY, "wait for your password to be checked")]
        if session.state is State.NAMING:
            if isinstance(command, cmd.Register):
                if session.asking:
                    return self._sign_in(session, command.name)
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
            shown = wanted.split()[0] if wanted.startswith("/") else wanted  # no passwords
            return self._refuse_name(session, _not_valid(shown, problem))
        ban = self.bans.for_name(name.key, self._clock()) if len(self.bans) else None
        if ban is not None:
            log.info("refused the banned name %s", name.display)
            return [self._error(session, ErrorCode.BANNED, _ban_text(ban)), Close(session.id)]
        account = self.accounts.get(name.key)
        if account is not None:
            session.asking, session.asked = True, account.key
            return [self._to(session, AskPassword(account.name))]
        look = self.accounts.looks_like(name)
        if look is not None:
            return self._refuse_name(session, _looks_like(wanted, look.name), taken=True)
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
        if len(self.mutes) and self.mutes.get(session.key, self._clock()) is not None:
            return [self._error(session, ErrorCode.MUTED, "you are muted")]
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
                return [self._to(session, HelpText(topic, self.is_operator(session)))]
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
            case cmd.RegisterAccount(password):
                return self._register_account(session, password)
            case cmd.Identify(name, password):
                return self._identify(session, name, password)
            case cmd.ChangePassword(old, new):
                return self._change_password(session, old, new)
            case cmd.Unregister(password):
                return self._unregister(session, password)
            case (
                cmd.Kick()
                | cmd.Ban()
                | cmd.Unban()
                | cmd.ListBans()
                | cmd.Mute()
                | cmd.Unmute()
                | cmd.Wall()
            ):
                return self._operate(session, command)
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
        now = self._clock() if len(self.mutes) or len(self.bans) else 0.0
        if len(self.mutes) and self.mutes.get(session.key, now) is not None:
            return [self._error(session, ErrorCode.MUTED, "you are muted; you cannot change names")]
        if len(self.bans) and self.bans.for_name(name.key, now) is not None:
            return [self._error(session, ErrorCode.BANNED, f"the name '{name.display}' is banned")]
        account = self.accounts.get(name.key)
        if account is not None and session.account != account.key:
            text = f"'{account.name}' is registered: /identify {account.name} PASSWORD to use it"
            return [self._error(session, ErrorCode.NAME_TAKEN, text)]
        look = self.accounts.looks_like(name)
        if look is not None:
            return [self._error(session, ErrorCode.NAME_TAKEN, _looks_like(wanted, look.name))]
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

    # Accounts: every password is checked or hashed off the loop (PasswordWork).

    def _work(
        self,
        session: Session[P],
        purpose: Purpose,
        account: str,
        password: str,
        secret: str | None = None,
        new: str | None = None,
    ) -> list[Effect]:
        if self._hashing >= MAX_HASHING:
            self.warnings.warn("hashing", f"refused a password: {MAX_HASHING} being hashed")
            text = "the server is busy checking passwords; try again in a few seconds"
            busy = self._error(session, ErrorCode.BUSY, text)
            return [busy, self._to(session, AskName())] if purpose is Purpose.SIGN_IN else [busy]
        self._hashing += 1
        session.busy = True
        return [PasswordWork(session.id, purpose, account, password, secret, new)]

    def _throttled(self, session: Session[P], key: str) -> Delivery | None:
        """The error for a try that must wait (too many wrong passwords), or None."""
        wait = self._attempts.wait(key, session.address, self._monotonic())
        if not wait:
            return None
        text = f"too many attempts; try again in {wait} s"
        return self._error(session, ErrorCode.TOO_MANY_ATTEMPTS, text)

    def _wrong(self, session: Session[P], key: str) -> Delivery:
        self._attempts.failed(key, session.address, self._monotonic())
        self.warnings.warn("password", f"a wrong password for {key} from {session.host}")
        return self._error(session, ErrorCode.WRONG_PASSWORD, "wrong password")

    def _sign_in(self, session: Session[P], password: str) -> list[Effect]:
        """The line after AskPassword: the password of the name asked for."""
        session.asking = False
        account = self.accounts.get(session.asked or "")
        if account is None:  # unregistered in the meantime
            return [self._to(session, AskName())]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting, self._to(session, AskName())]
        return self._work(session, Purpose.SIGN_IN, account.key, password.strip(), account.secret)

    def _identify(self, session: Session[P], wanted: str | None, password: str) -> list[Effect]:
        if wanted is None:
            key = session.asked or session.key
        elif looks_like_name(wanted):
            key = name_key(wanted)
        else:
            text = f"'{_shown(wanted)}' is not a valid name"
            return [self._error(session, ErrorCode.BAD_NAME, text)]
        account = self.accounts.get(key)
        if account is None:
            shown = _shown(wanted) if wanted is not None else session.name
            text = f"'{shown}' is not registered (/register PASSWORD registers your name)"
            return [self._error(session, ErrorCode.NOT_REGISTERED, text)]
        if session.account == key and session.key == key:
            text = f"you are identified as {account.name} already"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self.bans.for_name(key, self._clock()) is not None:
            text = f"the name '{account.name}' is banned"
            return [self._error(session, ErrorCode.BANNED, text)]
        waiting = self._throttled(session, key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.IDENTIFY, key, password, account.secret)

    def _register_account(self, session: Session[P], password: str) -> list[Effect]:
        problem = password_problem(password)
        if problem is not None:
            return [self._error(session, ErrorCode.BAD_PASSWORD, problem)]
        account = self.accounts.get(session.key)
        if account is not None:
            text = f"'{account.name}' is registered to you already (/password OLD NEW changes it)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self.accounts.full:
            limit = self.accounts.limit
            text = f"this server has all the accounts it allows ({limit}); ask an operator"
            self.warnings.warn("accounts", f"refused an account: {limit} exist (--max-accounts)")
            return [self._error(session, ErrorCode.TOO_MANY_ACCOUNTS, text)]
        return self._work(session, Purpose.REGISTER, session.key, password)

    def _signed_in(self, session: Session[P]) -> Account | Delivery:
        account = self.accounts.get(session.account or "")
        if account is None:
            text = "you are not identified: /identify PASSWORD first (or /register PASSWORD)"
            return self._error(session, ErrorCode.NOT_IDENTIFIED, text)
        return account

    def _change_password(self, session: Session[P], old: str, new: str) -> list[Effect]:
        account = self._signed_in(session)
        if isinstance(account, Delivery):
            return [account]
        problem = password_problem(new)
        if problem is not None:
            return [self._error(session, ErrorCode.BAD_PASSWORD, problem)]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.CHANGE, account.key, old, account.secret, new)

    def _unregister(self, session: Session[P], password: str) -> list[Effect]:
        account = self._signed_in(session)
        if isinstance(account, Delivery):
            return [account]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.UNREGISTER, account.key, password, account.secret)

    def password_done(self, work: PasswordWork, result: bool | str) -> list[Effect]:
        """A PasswordWork finished: `result` is whether the password matched, or the
        new hash. Goes on with what it was for, if its session is still there."""
        self._hashing -= 1
        session = self._sessions.get(work.session)
        if session is None or session.state is State.GONE:
            return []
        session.busy = False
        account = self.accounts.get(work.account)
        if work.purpose is Purpose.REGISTER or work.purpose is Purpose.NEW_SECRET:
            assert isinstance(result, str)
            return self._hashed(session, work, account, result)
        if account is None or account.secret != work.secret:
            # Unregistered or changed meanwhile: as good as a wrong password, but no strike.
            text = "that account changed meanwhile; try again"
            effects: list[Effect] = [self._error(session, ErrorCode.WRONG_PASSWORD, text)]
            return effects + (
                [self._to(session, AskName())] if work.purpose is Purpose.SIGN_IN else []
            )
        if result is not True:
            wrong = self._wrong(session, account.key)
            return (
                [wrong, self._to(session, AskName())]
                if work.purpose is Purpose.SIGN_IN
                else [wrong]
            )
        match work.purpose:
            case Purpose.SIGN_IN:
                if session.state is not State.NAMING:
                    return []
                session.account = account.key
                log.info("%s signed in", account.name)
                return [
                    *self._take_over(account.key),
                    ClaimName(session.id, account.name, account.key),
                ]
            case Purpose.IDENTIFY:
                session.account = account.key
                log.info("%s identified as %s", session.name, account.name)
                identified = self._to(session, AccountState(AccountChange.IDENTIFIED, account.name))
                if session.key == account.key:
                    return [identified]
                return [
                    *self._take_over(account.key),
                    ClaimName(session.id, account.name, account.key, rename=True),
                    identified,
                ]
            case Purpose.CHANGE:
                return self._work(session, Purpose.NEW_SECRET, account.key, work.new or "", None)
            case Purpose.UNREGISTER:
                self.accounts.remove(account.key)
                if self._kept is not None:
                    self._kept.drop_account(account.key)
                for other in self._sessions.values():
                    if other.account == account.key:
                        other.account = None
                log.info("%s unregistered %s", session.name, account.name)
                return [self._to(session, AccountState(AccountChange.UNREGISTERED, account.name))]
        raise AssertionError(work.purpose)

    def _hashed(
        self, session: Session[P], work: PasswordWork, account: Account | None, secret: str
    ) -> list[Effect]:
        if work.purpose is Purpose.NEW_SECRET:
            if account is None:
                return [self._error(session, ErrorCode.NOT_REGISTERED, "that account is gone")]
            account.secret = secret
            if self._kept is not None:
                self._kept.save_account(account)
            log.info("%s changed the password of %s", session.name, account.name)
            return [self._to(session, AccountState(AccountChange.PASSWORD_CHANGED, account.name))]
        if session.state is not State.CHATTING or session.key != work.account or account:
            text = "your name changed or was registered meanwhile; nothing was registered"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        created = Account(session.name, session.key, secret, self._clock())
        self.accounts.add(created)
        if self._kept is not None:
            self._kept.save_account(created)
        session.account = created.key
        log.info("%s registered", session.name)
        return [self._to(session, AccountState(AccountChange.REGISTERED, session.name))]

    def _take_over(self, key: str) -> list[Effect]:
        """The connection holding `key`, if any, loses it to one with the password."""
        ghost = self.directory.get(key)
        if ghost is None:
            return []
        log.info("%s signed in elsewhere; closing the old connection", ghost.name)
        return [
            self._to(ghost, SignedInElsewhere()),
            *self.leave(ghost, LeaveReason.GHOSTED),
            Close(ghost.id),
        ]

    # Operators: registered names in --oper, once identified.

    def is_operator(self, session: Session[P]) -> bool:
        return session.account is not None and session.account in self._opers

    def _operate(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        if not self.is_operator(session):
            word = type(command).__name__.lower().replace("listbans", "bans")
            text = f"only operators can use /{word}"
            return [self._error(session, ErrorCode.NOT_OPERATOR, text)]
        now = self._clock()
        match command:
            case cmd.Kick(name, reason):
                target = self._online(session, name)
                if isinstance(target, Delivery):
                    return [target]
                if target is session:
                    return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot kick yourself")]
                log.warning("operator %s kicked %s (%s)", session.name, target.name, reason or "")
                return self._remove(session, target, LeaveReason.KICKED, reason)
            case cmd.Ban(target, minutes, reason):
                return self._ban(session, target, minutes, reason, now)
            case cmd.Unban(target):
                return self._unban(session, target)
            case cmd.ListBans():
                return self._list_bans(session, now)
            case cmd.Mute(name, minutes):
                return self._mute(session, name, minutes, now)
            case cmd.Unmute(name):
                mute = self.mutes.remove(name_key(name)) if looks_like_name(name) else None
                if mute is None:
                    text = f"'{_shown(name)}' is not muted"
                    return [self._error(session, ErrorCode.BAD_COMMAND, text)]
                if self._kept is not None:
                    self._kept.drop_mute(mute.key)
                log.warning("operator %s unmuted %s", session.name, mute.name)
                return [self._to(session, Notice(f"{mute.name} is no longer muted"))]
            case cmd.Wall(text):
                log.warning("operator %s to everyone: %s", session.name, text)
                everyone = tuple(s.id for s in self._sessions.values() if s.state is State.CHATTING)
                return [Delivery(Wall(session.name, text), ToSessions(everyone))]
        raise AssertionError(command)

    def _remove(
        self, by: Session[P], target: Session[P], reason: LeaveReason, why: str | None
    ) -> list[Effect]:
        """Close `target` for an operator's reason; its rooms are told who did it."""
        message = by.name + (f": {why}" if why else "")
        shared = not by.rooms.keys().isdisjoint(target.rooms)
        effects: list[Effect] = [self._to(target, Removed(reason, by.name, why))]
        if target.state is State.CHATTING:
            rooms = tuple(target.rooms)
            shown = self.directory.room_name(rooms[0]) if len(rooms) == 1 else ""
            self._forget(target)
            log.info("%s left (%s by %s)", target.name, reason.value, message)
            if rooms:
                effects.append(Delivery(Left(target.name, reason, message, shown), ToRooms(rooms)))
        else:
            self._forget(target)
        effects.append(Close(target.id))
        if not shared and target is not by:
            effects.append(
                self._to(by, Notice(f"{target.name or 'a connection'} removed ({reason.value})"))
            )
        return effects

    def _ban(
        self, session: Session[P], wanted: str, minutes: int | None, reason: str | None, now: float
    ) -> list[Effect]:
        network = parse_network(wanted) if not looks_like_name(wanted) else None
        if network is not None:
            kind, target = BanKind.NETWORK, str(network)
            shown = (
                str(network.network_address)
                if network.prefixlen == network.max_prefixlen
                else target
            )
            covered = [s for s in self._sessions.values() if covers(network, s.host)]
            if session in covered:
                text = f"a ban on {shown} would cover your own address"
                return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        elif looks_like_name(wanted):
            kind, target, shown = (
                BanKind.NAME,
                name_key(wanted),
                unicodedata.normalize("NFKC", wanted.strip()),
            )
            online = self.directory.get(target)
            covered = [online] if online is not None else []
            if online is session:
                return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot ban yourself")]
        else:
            text = f"'{_shown(wanted)}' is not a name, an address or a CIDR (like 10.0.0.0/8)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        replacing = self.bans.for_name(target, now) if kind is BanKind.NAME else None
        if self.bans.full and replacing is None:
            text = f"there are {len(self.bans)} bans already (--max-bans); /unban some first"
            return [self._error(session, ErrorCode.TOO_MANY_BANS, text)]
        until = now + minutes * 60 if minutes is not None else None
        ban = Ban(kind, target, shown, session.name, reason, now, until)
        self.bans.add(ban)
        if self._kept is not None:
            self._kept.save_ban(ban)
        log.warning(
            "operator %s banned %s%s (%s)", session.name, shown, _minutes(minutes), reason or ""
        )
        effects: list[Effect] = []
        for target_session in covered:
            effects += self._remove(session, target_session, LeaveReason.BANNED, reason)
        removed = f"; {len(covered)} removed" if covered else ""
        text = f"banned {shown}{_minutes(minutes)}" + (f": {reason}" if reason else "") + removed
        return [*effects, self._to(session, Notice(text))]

    def _unban(self, session: Session[P], wanted: str) -> list[Effect]:
        network = parse_network(wanted) if not looks_like_name(wanted) else None
        if network is not None:
            ban = self.bans.remove(BanKind.NETWORK, str(network))
        elif looks_like_name(wanted):
            ban = self.bans.remove(BanKind.NAME, name_key(wanted))
        else:
            ban = None
        if ban is None:
            text = f"there is no ban on '{_shown(wanted)}' (/bans lists them)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self._kept is not None:
            self._kept.drop_ban(ban)
        log.warning("operator %s unbanned %s", session.name, ban.shown)
        return [self._to(session, Notice(f"{ban.shown} is no longer banned"))]

    def _list_bans(self, session: Session[P], now: float) -> list[Effect]:
        bans = self.bans.active(now)
        lines = [f"Bans ({len(bans)}):" if bans else "no one is banned"]
        for ban in bans:
            until = (
                "until /unban"
                if ban.until is None
                else f"{math.ceil((ban.until - now) / 60)} more minutes"
            )
            why = f": {ban.reason}" if ban.reason else ""
            lines.append(f"  {ban.shown} ({ban.kind.value}) by {ban.by}, {until}{why}")
        return [self._to(session, Notice(line)) for line in lines]

    def _mute(
        self, session: Session[P], wanted: str, minutes: int | None, now: float
    ) -> list[Effect]:
        if not looks_like_name(wanted):
            return [
                self._error(session, ErrorCode.BAD_NAME, f"'{_shown(wanted)}' is not a valid name")
            ]
        key = name_key(wanted)
        online = self.directory.get(key)
        name = online.name if online is not None else unicodedata.normalize("NFKC", wanted.strip())
        if online is session:
            return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot mute yourself")]
        if self.mutes.full and self.mutes.get(key, now) is None:
            text = f"there are {len(self.mutes)} mutes already (--max-bans); /unmute some first"
            return [self._error(session, ErrorCode.TOO_MANY_BANS, text)]
        mute = Mute(key, name, session.name, now, now + minutes * 60 if minutes else None)
        self.mutes.add(mute)
        if self._kept is not None:
            self._kept.save_mute(mute)
        log.warning("operator %s muted %s%s", session.name, name, _minutes(minutes))
        effects: list[Effect] = [self._to(session, Notice(f"muted {name}{_minutes(minutes)}"))]
        if online is not None:
            text = f"you are muted by {session.name}{_minutes(minutes)}"
            effects.append(self._to(online, Notice(text)))
        return effects
