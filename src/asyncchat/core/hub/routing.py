"""Routing decisions: a typed command from one session in, effects out.

No sockets and no event loop: a front end hands in commands, and the edge
carries the returned effects out, in order, before it calls the hub again
(it resolves their room keys against the directory as it does).
"""

from __future__ import annotations

import logging
from typing import assert_never

import asyncchat.core.commands as cmd
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    ToRoom,
    ToRooms,
    ToSessions,
)
from asyncchat.core.events import (
    AskName,
    AskPassword,
    AwayChanged,
    AwayState,
    Bye,
    ErrorCode,
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
    Tagged,
    TopicChanged,
    TopicIs,
)
from asyncchat.core.hub.base import ban_text, looks_alike, not_valid, quoted
from asyncchat.core.hub.operators import Operators
from asyncchat.core.hub.replica import Replica, correspond
from asyncchat.core.hub.signin import SignIn
from asyncchat.core.ignores import MAX_IGNORED
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
from asyncchat.core.registry import P, Session, State

log = logging.getLogger(__name__)


LOBBY = Name("lobby", "lobby")
LOCAL_COMMANDS = (cmd.Ping, cmd.Help, cmd.Quit, cmd.Unknown, cmd.Malformed)
"""What a node answers alone while the chat it is part of is degraded."""
NOT_SENT = "the chat is degraded; your message was not sent"
NO_NAME = "the chat is degraded; no name can be given now, try again in a moment"
MAX_TOPIC = 300
"""Characters in a room's topic."""


class Hub(SignIn[P], Operators[P], Replica[P]):
    """Everything the server decides, for all connections at once."""

    def handle(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        """Carry out one command; a front end parses its own syntax into these."""
        if session.state is State.GONE:
            return []
        if session.busy:  # the edge holds input meanwhile; this is a caller's mistake
            return [self._error(session, ErrorCode.BUSY, "wait for your password to be checked")]
        if self.degraded and not isinstance(command, LOCAL_COMMANDS):
            if session.state is State.NAMING:
                return [
                    self._error(session, ErrorCode.DEGRADED, NO_NAME),
                    self._to(session, AskName()),
                ]
            return [self._error(session, ErrorCode.DEGRADED, NOT_SENT)]
        if session.state is State.NAMING:
            if isinstance(command, cmd.Register):
                if session.asking and not command.fresh:
                    return self._sign_in(session, command.name)
                session.asking = False
                return self._register(session, command.name)
            if isinstance(command, cmd.Identify) and command.name is not None:
                return self._identify(session, command.name, command.password)  # IRC's SASL
            return self._refuse_name(session, "choose a name first")
        return self._execute(session, command)

    def _register(self, session: Session[P], wanted: str) -> list[Effect]:
        wanted = wanted.strip()
        if not wanted:
            return []
        try:
            name = parse_name(wanted)
        except LooksLike as looks:
            return self._refuse_name(session, looks_alike(wanted, looks.other), taken=True)
        except InvalidName as problem:
            shown = wanted.split()[0] if wanted.startswith("/") else wanted  # no passwords
            return self._refuse_name(session, not_valid(shown, problem))
        ban = self.bans.for_name(name.key, self._clock()) if len(self.bans) else None
        if ban is not None:
            log.info("refused the banned name %s", name.display)
            return [self._error(session, ErrorCode.BANNED, ban_text(ban)), Close(session.id)]
        account = self.accounts.get(name.key)
        if account is not None and session.account == account.key:  # signed in before naming
            return [
                *self._take_over(account.key),
                ClaimName(session.id, account.name, account.key, force=True),
            ]
        if account is not None:
            session.asking, session.asked = True, account.key
            return [self._to(session, AskPassword(account.name))]
        look = self.accounts.looks_like(name)
        if look is not None:
            return self._refuse_name(session, looks_alike(wanted, look.name), taken=True)
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
                else looks_alike(display, holder)
            )
        elif mixes_scripts(display):  # after the look-alike check: that says more
            refusal = f"'{quoted(display)}' is not a valid name: {MIXED_SCRIPTS}"
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
        log.info("%s joined (%d online)", name.display, len(self.directory))
        return [
            self._to(
                session,
                Hello(
                    name.display,
                    self.directory.names(LOBBY.key),
                    self.directory.topic(LOBBY.key),
                ),
            ),
            Delivery(
                Joined(
                    name.display,
                    self.directory.head_count(LOBBY.key),
                    room=self.directory.room_name(LOBBY.key),
                ),
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
            *(self._to(session, HistoryLine(record, shown)) for record in records),
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
            return self._error(session, ErrorCode.BAD_NAME, not_valid(wanted, problem, "room"))
        if key not in session.rooms:
            text = f"you are not in #{quoted(wanted.removeprefix('#'))}"
            return self._error(session, ErrorCode.BAD_COMMAND, text)
        return key

    def _said(
        self,
        session: Session[P],
        text: str,
        action: bool,
        wanted: str | None,
        tags: tuple[tuple[str, str], ...] = (),
    ) -> list[Effect]:
        room = session.room if wanted is None and session.room else self._room_of(session, wanted)
        if isinstance(room, Delivery):
            return [room]
        if self._muted(session):
            return [self._error(session, ErrorCode.MUTED, "you are muted")]
        self._last_message += 1
        record = Record(room, self._clock(), session.name, text, action, self._last_message)
        if not self._shared_history:  # shared: the cache learns it when the cluster orders it
            self.history.add(record)
        if self._keep is not None:
            self._keep(record)
        ignorers = self._ignores.ignorers(session.key)
        if ignorers:
            skip = frozenset(ignorer.id for ignorer in ignorers)
            said = Said(record, self.directory.room_name(room), tags)
            return [Delivery(said, ToRoom(room, session.id, skip))]
        return [
            Delivery(Said(record, self.directory.room_name(room), tags), ToRoom(room, session.id))
        ]

    def _join(self, session: Session[P], wanted: str, keep_others: bool) -> list[Effect]:
        try:
            room = parse_room(wanted)
        except InvalidName as problem:
            text = not_valid(wanted, problem, "room name")
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
        topic = self.directory.topic(room.key)
        if already:  # it was there all along: it only becomes the current room
            return [
                *effects,
                self._to(session, RoomEntered(entered, self.directory.names(room.key), topic)),
            ]
        return [
            *effects,
            self._to(session, RoomEntered(entered, self.directory.names(room.key), topic)),
            Delivery(
                Joined(session.name, self.directory.head_count(room.key), moved=True, room=entered),
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

    def _execute(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        match command:
            case cmd.Say(text, room, tags):
                return self._said(session, text, False, room, tags)
            case cmd.Act(text, room, tags):
                return self._said(session, text, True, room, tags)
            case cmd.Tag(target, tags):
                return self._tag(session, target, tags)
            case cmd.Whisper(target, text):
                return self._whisper(session, target, text)
            case cmd.Reply(text):
                return self._reply(session, text)
            case cmd.Who(wanted):
                here = self._room_of(session, wanted)
                if isinstance(here, Delivery):
                    return [here]
                names = self.directory.names(here)
                return [self._to(session, Online(names, self.directory.away(here)))]
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
                self.directory.set_away(session, message)
                changed = Delivery(
                    AwayChanged(session.name, message), ToRooms(tuple(session.rooms))
                )
                return [self._to(session, AwayState(message)), changed]
            case cmd.Topic(room, text):
                return self._topic(session, room, text)
            case cmd.Ignore(name):
                return self._ignore(session, name)
            case cmd.Unignore(name):
                return self._unignore(session, name)
            case cmd.Quit(reason):
                if reason is not None and self._muted(session):
                    reason = None  # a quit message is public too
                bye = self._to(session, Bye(session.name))
                return [bye, *self.leave(session, LeaveReason.QUIT, reason), Close(session.id)]
            case cmd.Unknown(word):
                text = f"unknown command '{quoted(word)}' (try /help)"
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

    def _tag(
        self, session: Session[P], target: str, tags: tuple[tuple[str, str], ...]
    ) -> list[Effect]:
        """Labels alone (typing notices and the like): like a line, but kept nowhere."""
        if target.startswith("#"):
            room = self._room_of(session, target)
            if isinstance(room, Delivery):
                return [room]
            if self._muted(session):
                return [self._error(session, ErrorCode.MUTED, "you are muted")]
            tagged = Tagged(session.name, self.directory.room_name(room), tags)
            skip = frozenset(ignorer.id for ignorer in self._ignores.ignorers(session.key))
            return [Delivery(tagged, ToRoom(room, session.id, skip))]
        recipient = self._online(session, target)
        if isinstance(recipient, Delivery):
            return [recipient]
        if recipient is session or self._ignores.ignores(recipient, session.key):
            return []
        return [self._to(recipient, Tagged(session.name, "", tags))]

    def _topic(self, session: Session[P], wanted: str | None, text: str | None) -> list[Effect]:
        room = self._room_of(session, wanted)
        if isinstance(room, Delivery):
            return [room]
        shown = self.directory.room_name(room)
        if text is None:
            return [self._to(session, TopicIs(shown, self.directory.topic(room)))]
        if self._muted(session):
            return [self._error(session, ErrorCode.MUTED, "you are muted")]
        if len(text) > MAX_TOPIC:
            problem = f"a topic can be at most {MAX_TOPIC} characters (that one has {len(text)})"
            return [self._error(session, ErrorCode.BAD_COMMAND, problem)]
        self.directory.set_topic(room, text)
        log.info("%s set the topic of #%s", session.name, shown)
        return [Delivery(TopicChanged(session.name, shown, text), ToRoom(room))]

    def _rooms_full(self, session: Session[P], leaving: list[str]) -> bool:
        """A new room for `session` would pass --max-rooms.

        The rooms it leaves count as gone if they would be empty, and one
        slot is always kept for the lobby, so registering never fails for it.
        """
        directory = self.directory
        freed = [room for room in leaving if directory.head_count(room) == 1]
        after = directory.room_count() + 1 - len(freed)
        lobby_missing = not directory.has_room(LOBBY.key) or LOBBY.key in freed
        return after + lobby_missing > self._config.max_rooms

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
            text = f"you are not ignoring '{quoted(wanted)}' (/ignore lists whom you ignore)"
            return [self._error(session, ErrorCode.NOT_IGNORING, text)]
        return [self._to(session, Ignoring(name, on=False))]

    def _whisper(self, session: Session[P], target: str, text: str) -> list[Effect]:
        if not looks_like_name(target):
            problem = f"'{quoted(target)}' is not a valid name; nothing was sent"
            return [self._error(session, ErrorCode.NO_SUCH_USER, problem)]
        key = name_key(target)
        recipient = self.directory.get(key)
        if recipient is None:
            problem = f"no one called '{quoted(target)}' is online; nothing was sent"
            if key in RESERVED:
                problem += " (to write to everyone, just type the message, or use /all)"
            return [self._error(session, ErrorCode.NO_SUCH_USER, problem)]
        return self._deliver_private(session, recipient, text)

    def _reply(self, session: Session[P], text: str) -> list[Effect]:
        if session.reply_to is None:
            problem = "no one has sent you a private message yet; nothing was sent"
            return [self._error(session, ErrorCode.NO_REPLY_TARGET, problem)]
        wanted, name = session.reply_to
        recipient = self._anyone(wanted)
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
        correspond(session, recipient.id)
        correspond(recipient, session.id)
        private = Private(session.name, text, self._clock(), self._message_id())
        return [self._to(recipient, private), *sent]

    def _rename(self, session: Session[P], wanted: str) -> list[Effect]:
        try:
            name = parse_name(wanted)
        except LooksLike as looks:
            return [self._error(session, ErrorCode.NAME_TAKEN, looks_alike(wanted, looks.other))]
        except InvalidName as problem:
            return [self._error(session, ErrorCode.BAD_NAME, not_valid(wanted, problem))]
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
            return [self._error(session, ErrorCode.NAME_REGISTERED, text)]
        look = self.accounts.looks_like(name)
        if look is not None:
            return [self._error(session, ErrorCode.NAME_TAKEN, looks_alike(wanted, look.name))]
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
            if (other := self._anyone(id)) is not None
            and other.state is State.CHATTING
            and other.rooms.keys().isdisjoint(session.rooms)
        )
        if elsewhere:  # private partners in other rooms learn the new name too
            effects.append(Delivery(renamed, ToSessions(elsewhere)))
        return effects
