"""One IRC client: registration (CAP, NICK, USER, PASS), its commands made into
the hub's, and the PING that finds an idle client gone.

Reading, flood control (delay, never drop), the send-queue cut-off and
per-address limits are the line connection's, inherited: only the syntax
differs. Capabilities: server-time, message-tags, echo-message, batch
(chathistory), multi-prefix (we have no prefixes, so nothing to add).
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from typing import TYPE_CHECKING, Final

import asyncchat.core.commands as cmd
from asyncchat.config import IRC_LINE
from asyncchat.core.effects import Delivery, Effect, ToSession
from asyncchat.core.events import AskPassword, Error, LeaveReason, Online, Said
from asyncchat.core.hub.base import Ticket
from asyncchat.core.names import InvalidName, looks_like_name, name_key, parse_room
from asyncchat.core.registry import State
from asyncchat.core.sanitize import invisible_only, sanitize
from asyncchat.edge.outbox import RoomBurst
from asyncchat.frontends.irc.message import MAX_LINE, MAX_TAGS, Message, line, parse, text_line
from asyncchat.frontends.irc.render import (
    HOST,
    ClientState,
    Personal,
    channel,
    mask,
    profile,
    said_line,
    server_time,
)
from asyncchat.frontends.line.connection import LineConnection
from asyncchat.frontends.line.framing import Frame, InvalidUtf8, Line, LineTooLong

if TYPE_CHECKING:
    from asyncchat.edge.server import ChatServer

CAPABILITIES: Final = (
    "away-notify",
    "batch",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
)
SASL_CHUNK: Final = 400
SASL_MAX: Final = 3 * SASL_CHUNK
"""A PLAIN payload: a name and a password of at most 200 characters fit well within."""
MAX_IRC_LINE: Final = IRC_LINE
"""What the framing lets through: a tags part and a message (checked apart)."""
BEFORE_REGISTRATION: Final = frozenset(
    {"CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT", "AUTHENTICATE"}
)


NEEDS: Final = {
    "NICK": 1,
    "USER": 4,
    "PASS": 1,
    "JOIN": 1,
    "PART": 1,
    "PRIVMSG": 2,
    "NOTICE": 2,
    "TAGMSG": 1,
    "WHOIS": 1,
    "TOPIC": 1,
    "MODE": 1,
    "PING": 1,
}
"""Parameters each command needs at least (461 otherwise)."""


_CLIENT_TAG = re.compile(r"\+[A-Za-z0-9./-]{1,64}(?:/[A-Za-z0-9-]{1,64})?")
MAX_CLIENT_TAGS: Final = 16


def client_tags(message: Message) -> tuple[tuple[str, str], ...]:
    """The client-only tags (`+name`) of a message, passed on to others; keys must be
    well formed and values lose control characters; at most MAX_CLIENT_TAGS."""
    found = [
        (key, sanitize(value)[:1024])
        for key, value in message.tags.items()
        if _CLIENT_TAG.fullmatch(key)
    ]
    return tuple(found[:MAX_CLIENT_TAGS])


def server_name(configured: str) -> str:
    return configured or socket.gethostname() or "asyncchat"


class IRCConnection(LineConnection):
    """An IRC client of the same chat."""

    cuts_unterminated = False  # IRC clients end every line; a slow segment is no line end

    def __init__(self, server: ChatServer, ticket: Ticket | None = None) -> None:
        super().__init__(server, ticket)
        config = server.config
        self.state = ClientState(server_name(config.server_name))
        self.codec = profile(self.state.server, set())
        self._nick: str | None = None
        self._user: str | None = None
        self._password: str | None = None
        self._negotiating = False
        self._registering = False
        self._ping_timeout = config.irc_ping_timeout
        self._pinged = False
        self._idle: asyncio.TimerHandle | None = None
        self._sasl: str | None = None
        """The SASL PLAIN payload being received (base64), or None."""

    @staticmethod
    def line_limit(max_line: int) -> int:
        """IRC's own limit (512 bytes and a tags part), not --max-line."""
        return MAX_IRC_LINE

    def _personal(self) -> Personal:
        return Personal(self.state)

    def _pump(self) -> None:
        """Also after a name was claimed later (a cluster asks Redis): numerics
        follow the name the hub gave."""
        if self.session.state is State.CHATTING:
            self.state.nick = self.session.name
        super()._pump()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.connected and self.session.state is not State.GONE:
            self._idle = self._loop.call_later(self._ping_timeout / 2, self._check_idle)

    def buffer_updated(self, nbytes: int) -> None:
        self._pinged = False
        super().buffer_updated(nbytes)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        super().connection_lost(exc)

    def _check_idle(self) -> None:
        """Idle for half the timeout: PING; no answer in the other half: gone."""
        if self._gone:
            return
        if self._pinged:
            self._send([text_line("ERROR", "Closing link (Ping timeout)")])
            self._leave(LeaveReason.PING_TIMEOUT)
            self.peer.finish()
            return
        self._pinged = True
        self._send([line("PING", self.state.server)])
        self._idle = self._loop.call_later(self._ping_timeout / 2, self._check_idle)

    def _send(self, lines: list[str]) -> None:
        if lines:
            self.peer.send("".join(text + "\r\n" for text in lines).encode())

    def _numeric(self, code: str, *params: str) -> None:
        self._send([text_line(code, self.state.nick, *params, source=self.state.server)])

    def _take(self, frame: Frame, burst: RoomBurst) -> None:
        match frame:
            case Line(text):
                message = parse(text)
                if message is None:
                    return
                if text.startswith("@"):
                    body = text.partition(" ")[2]
                    if len(text.encode()) - len(body.encode()) > MAX_TAGS:
                        self._numeric("417", "Input line was too long")
                        return
                else:
                    body = text
                if len(body.encode()) + 2 > MAX_LINE:
                    self._numeric("417", "Input line was too long")
                    return
                self._command(message, burst)
            case LineTooLong():
                self._numeric("417", "Input line was too long")
            case InvalidUtf8():
                self._send([text_line("FAIL", "*", "INVALID_UTF8", "Message was not UTF-8")])
            case _:
                return

    def _hub_says(
        self, command: cmd.Command, burst: RoomBurst, *, quiet: bool = False
    ) -> list[Effect]:
        """The hub's answer, dispatched; `quiet`: without errors to us (a NOTICE
        never gets an error reply)."""
        effects = self._hub.handle(self.session, command)
        if quiet:
            me = ToSession(self.session.id)
            effects = [
                e
                for e in effects
                if not (isinstance(e, Delivery) and e.to == me and isinstance(e.event, Error))
            ]
        burst.dispatch(effects)
        if self.session.state is State.CHATTING:
            self.state.nick = self.session.name  # a rename is told to rooms by the Broadcast
        return effects

    def _command(self, message: Message, burst: RoomBurst) -> None:
        verb, params = message.command, message.params
        registered = self.session.state is State.CHATTING
        if not registered and verb not in BEFORE_REGISTRATION:
            self._numeric("451", "You have not registered")
            return
        if len(params) < NEEDS.get(verb, 0) or (verb == "NICK" and not params[0].strip()):
            if verb in ("PRIVMSG", "NOTICE") and not params:
                self._numeric("411", f"No recipient given ({verb})")
            elif verb in ("PRIVMSG", "NOTICE"):
                self._numeric("412", "No text to send")
            elif verb == "NICK":
                self._numeric("431", "No nickname given")
            else:
                self._numeric("461", verb, "Not enough parameters")
            return
        match verb:
            case "CAP":
                self._cap(params)
            case "AUTHENTICATE":
                self._authenticate(params[0] if params else "", burst)
            case "PASS":
                if registered:
                    self._numeric("462", "You may not reregister")
                else:
                    self._password = params[0]
            case "NICK":
                if registered and params[0] == self.session.name:
                    return  # no change: IRC servers say nothing
                if registered:
                    self.state.target = params[0]
                    self._hub_says(cmd.Nick(params[0]), burst)
                else:
                    self._nick = params[0]
                    self._try_register(burst)
            case "USER":
                if registered or self._user is not None:
                    self._numeric("462", "You may not reregister")
                else:
                    self._user = params[0]
                    self._try_register(burst)
            case "PING":
                self._send([line("PONG", self.state.server, params[0], source=self.state.server)])
            case "PONG":
                pass
            case "QUIT":
                reason = sanitize(params[0]).strip() if params else ""
                if registered:
                    self._hub_says(cmd.Quit(reason or None), burst)
                else:
                    self._send([text_line("ERROR", "Closing link (Quit)")])
                    self._leave(LeaveReason.QUIT)
                    self.peer.finish()
            case "JOIN":
                self._join(params, burst)
            case "PART":
                why = sanitize(params[1]).strip() or None if len(params) > 1 else None
                for room in params[0].split(","):
                    if not room:
                        continue
                    if self._room_key(room) not in self.session.rooms:
                        self._numeric("442", room, "You're not on that channel")
                        continue
                    self._hub_says(cmd.Part(room.removeprefix("#"), why), burst)
            case "PRIVMSG" | "NOTICE":
                self._message(
                    params[0], params[1], burst, notice=verb == "NOTICE", tags=client_tags(message)
                )
            case "TAGMSG":
                labels = client_tags(message)
                if labels:
                    self.state.target = params[0]
                    self._hub_says(cmd.Tag(params[0], labels), burst)
            case "NAMES":
                room = params[0].split(",")[0].removeprefix("#") if params else self.session.room
                self._ask("NAMES", room, burst)
            case "WHO":
                self._who(params[0] if params else "*", burst)
            case "WHOIS":
                self._whois(params[-1])
            case "LIST":
                self._hub_says(cmd.ListRooms(), burst)
            case "TOPIC":
                room = params[0].removeprefix("#")
                if self._room_key(room) not in self.session.rooms:
                    self._numeric("442", params[0], "You're not on that channel")
                elif len(params) > 1:
                    text = sanitize(params[1]).strip()
                    self._hub_says(cmd.Topic(room, "" if invisible_only(text) else text), burst)
                else:
                    self._hub_says(cmd.Topic(room), burst)
            case "MODE":
                self._mode(params)
            case "AWAY":
                text = sanitize(params[0]).strip() if params else ""
                self._hub_says(cmd.Away(text or None), burst)
            case "MOTD":
                self._numeric("422", "MOTD File is missing")
            case "LUSERS":
                online = self._hub.online
                self._numeric("251", f"There are {online} users and 0 invisible on 1 servers")
            case "USERHOST" | "ISON":
                self._presence(verb, params)
            case "HELP":
                self._hub_says(cmd.Help(), burst)
            case _:
                self._numeric("421", verb, "Unknown command")

    def _cap(self, params: tuple[str, ...]) -> None:
        sub = params[0].upper() if params else ""
        state = self.state
        if sub == "LS":
            if self.session.state is not State.CHATTING:
                self._negotiating = True
            values = len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302
            offered = [f"{c}=PLAIN" if c == "sasl" and values else c for c in CAPABILITIES]
            self._send([text_line("CAP", state.nick, "LS", " ".join(offered), source=state.server)])
        elif sub == "LIST":
            enabled = " ".join(sorted(state.caps))
            self._send([text_line("CAP", state.nick, "LIST", enabled, source=state.server)])
        elif sub == "REQ":
            wanted = params[1].split() if len(params) > 1 else []
            if self.session.state is not State.CHATTING:
                self._negotiating = True
            known = all(cap.removeprefix("-") in CAPABILITIES for cap in wanted)
            if not wanted or not known:
                self._send(
                    [text_line("CAP", state.nick, "NAK", " ".join(wanted), source=state.server)]
                )
                return
            for cap in wanted:
                if cap.startswith("-"):
                    state.caps.discard(cap[1:])
                else:
                    state.caps.add(cap)
            self._send([text_line("CAP", state.nick, "ACK", " ".join(wanted), source=state.server)])
            self._recode()
        elif sub == "END":
            if self._negotiating:
                self._negotiating = False
                burst = RoomBurst(self._dispatch)
                self._try_register(burst)
                burst.flush()
        else:
            self._numeric("410", sub or "*", "Invalid CAP command")

    def _authenticate(self, data: str, burst: RoomBurst) -> None:
        """SASL PLAIN (IRCv3 sasl-3.1): checked by the hub like /identify."""
        if self.session.state is not State.NAMING:
            self._numeric("907", "You have already authenticated using SASL")
            return
        if "sasl" not in self.state.caps:
            self._numeric("904", "SASL authentication failed (request the sasl capability)")
            return
        if data == "*":
            self._sasl = None
            self._numeric("906", "SASL authentication aborted")
            return
        if self._sasl is None:
            if data.upper() != "PLAIN":
                self._numeric("908", "PLAIN", "are available SASL mechanisms")
                self._numeric("904", "SASL authentication failed")
                return
            self._sasl = ""
            self._send([line("AUTHENTICATE", "+")])
            return
        if len(data) > SASL_CHUNK or len(self._sasl) + len(data) > SASL_MAX:
            self._sasl = None
            self._numeric("905", "SASL message too long")
            return
        self._sasl += "" if data == "+" else data
        if len(data) == SASL_CHUNK:
            return  # more to come
        payload, self._sasl = self._sasl, None
        try:
            _, account, password = base64.b64decode(payload, validate=True).decode().split("\0")
        except (ValueError, UnicodeDecodeError):
            self._numeric("904", "SASL authentication failed")
            return
        self.state.sasl = True
        self._hub_says(cmd.Identify(account, password), burst)

    def _recode(self) -> None:
        """New capabilities: this client's encoders follow them."""
        self.peer.personal = Personal(self.state)
        codec = profile(self.state.server, self.state.caps)
        self._dispatch.recode(self.session.id, self.peer, codec)

    def _try_register(self, burst: RoomBurst) -> None:
        if self._negotiating or self._nick is None or self._user is None or self._registering:
            return
        if self.session.state is not State.NAMING:
            return
        nick = self._nick
        if nick is None:
            return
        self._nick = None
        self.state.target = nick
        effects = self._hub.handle(self.session, cmd.Register(nick))
        asked = any(isinstance(e, Delivery) and isinstance(e.event, AskPassword) for e in effects)
        if not asked:
            burst.dispatch(effects)
            return
        if self._password is None:
            self._hub.handle(self.session, cmd.Register(""))  # no password: give the name up
            self._numeric("433", nick, "Nickname is registered: give its password with PASS")
            return
        self._registering = True  # until the password is checked (the hub holds the rest)
        burst.dispatch(self._hub.handle(self.session, cmd.Register(self._password)))
        self._registering = False

    def _join(self, params: tuple[str, ...], burst: RoomBurst) -> None:
        if params[0] == "0":
            for room in list(self.session.rooms):
                self._hub_says(cmd.Part(self._hub.directory.room_name(room)), burst)
            return
        for room in params[0].split(","):
            if not room:
                continue
            if not room.startswith("#"):
                self._numeric("403", room, "No such channel")
                continue
            try:
                parse_room(room)
            except InvalidName as problem:
                self._numeric("479", room, f"Illegal channel name: {problem}")
                continue
            if self._room_key(room) in self.session.rooms:
                continue  # already there: IRC servers say nothing
            self._hub_says(cmd.Join(room[1:], keep_others=True), burst)

    @staticmethod
    def _room_key(room: str) -> str:
        return name_key(room.removeprefix("#"))

    def _message(
        self,
        target: str,
        text: str,
        burst: RoomBurst,
        *,
        notice: bool = False,
        tags: tuple[tuple[str, str], ...] = (),
    ) -> None:
        action = text.startswith("\x01ACTION ") or text == "\x01ACTION\x01"
        if action:
            text = text.removeprefix("\x01ACTION").strip("\x01").strip()
        elif text.startswith("\x01"):
            return  # other CTCP (VERSION, PING...): not supported, not passed on
        clean = sanitize(text).strip()
        if not clean or invisible_only(clean):
            if not notice:
                self._numeric("412", "No text to send")
            return
        self.state.target = target
        if target.startswith("#"):
            room = target[1:]
            key = self._room_key(room)
            if key not in self.session.rooms:
                if not notice:
                    known = self._hub.directory.has_room(key)
                    code, why = (
                        ("404", "Cannot send to channel") if known else ("403", "No such channel")
                    )
                    self._numeric(code, target, why)
                return
            command: cmd.Command = (
                cmd.Act(clean, room, tags) if action else cmd.Say(clean, room, tags)
            )
            effects = self._hub_says(command, burst, quiet=notice)
            if "echo-message" in self.state.caps:
                self._echo(effects, burst)
            return
        if not looks_like_name(target):
            if not notice:
                self._numeric("401", target, "No such nick/channel")
            return
        body = f"* {self.session.name} {clean}" if action else clean
        self._hub_says(cmd.Whisper(target, body), burst, quiet=notice)

    def _echo(self, effects: list[Effect], burst: RoomBurst) -> None:
        """echo-message: a channel message comes back to its sender, as sent."""
        for effect in effects:
            if isinstance(effect, Delivery) and isinstance(effect.event, Said):
                burst.flush()
                record, room = effect.event.record, effect.event.room or effect.event.record.room
                caps = self.state.caps
                tags = dict(effect.event.tags) if "message-tags" in caps else {}
                if "server-time" in caps:
                    tags["time"] = server_time(record.time)
                self._send([said_line(record, room, tags)])

    def _ask(self, kind: str, room: str, burst: RoomBurst) -> None:
        key = self._room_key(room)
        if key not in self.session.rooms:
            # Not in it: IRC answers an empty list rather than an error.
            if kind == "WHO":
                self._numeric("315", channel(room), "End of /WHO list")
            else:
                self._numeric("366", channel(room), "End of /NAMES list")
            return
        shown = self._hub.directory.room_name(key)
        queries = self.state.queries
        queries.append((kind, shown))
        effects = self._hub_says(cmd.Who(shown), burst)
        if not any(isinstance(e, Delivery) and isinstance(e.event, Online) for e in effects):
            queries.remove((kind, shown))  # refused: no answer will use it

    def _who(self, target: str, burst: RoomBurst) -> None:
        if target.startswith("#"):
            self._ask("WHO", target[1:], burst)
            return
        found = self._hub.find(target) if looks_like_name(target) else None
        if found is not None:
            where = channel(self._hub.directory.room_name(found.room)) if found.room else "*"
            self._send([Personal(self.state).who(where, found.name, found.away is not None)])
        self._numeric("315", target, "End of /WHO list")

    def _whois(self, nick: str) -> None:
        found = self._hub.find(nick) if looks_like_name(nick) else None
        if found is None:
            self._numeric("401", nick, "No such nick/channel")
        else:
            state = self.state
            rooms = " ".join(channel(self._hub.directory.room_name(r)) for r in found.rooms)
            self._numeric("311", found.name, found.name, HOST, "*", found.name)
            if rooms:
                self._numeric("319", found.name, rooms)
            self._numeric("312", found.name, state.server, "asyncchat")
            if found.away is not None:
                self._numeric("301", found.name, found.away)
            if found.account is not None:
                account = self._hub.accounts.get(found.account)
                if account is not None:
                    self._numeric("330", found.name, account.name, "is logged in as")
        self._numeric("318", nick, "End of /WHOIS list")

    def _mode(self, params: tuple[str, ...]) -> None:
        target = params[0]
        if target.startswith("#"):
            if len(params) > 1 and params[1] in ("b", "+b"):
                self._numeric("368", target, "End of channel ban list")
            elif len(params) > 1:
                self._numeric("482", target, "Channel modes cannot be changed here")
            else:
                self._send([line("324", self.state.nick, target, "+n", source=self.state.server)])
        elif target.casefold() == self.state.nick.casefold():
            self._send([line("221", self.state.nick, "+i", source=self.state.server)])
        else:
            self._numeric("502", "Can't change mode for other users")

    def _presence(self, verb: str, params: tuple[str, ...]) -> None:
        nicks = [nick for param in params for nick in param.split()]
        found = [self._hub.find(nick) for nick in nicks if looks_like_name(nick)]
        online = [session for session in found if session is not None]
        if verb == "ISON":
            self._numeric("303", " ".join(session.name for session in online))
        else:
            replies = " ".join(f"{s.name}=+{s.name}@{HOST}" for s in online[:5])
            self._numeric("302", replies)


__all__ = ["CAPABILITIES", "IRCConnection", "mask", "server_name"]
