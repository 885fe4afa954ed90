"""The hub's events as IRC lines.

Two kinds of encoders, because the Dispatcher encodes an event once per
encoder in use: a `Broadcast` (one per server name and capability profile)
for what goes to a room, the same bytes for every member; and each client's
`Personal` encoder for what goes to that client alone (numerics carry its
nick, replies depend on what it asked and on its capabilities).
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asyncchat.core.events import (
    AccountChange,
    AccountState,
    AskName,
    AskPassword,
    AwayChanged,
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
    Tagged,
    TopicChanged,
    TopicIs,
    Wall,
    Welcome,
)
from asyncchat.core.hub.routing import MAX_TOPIC
from asyncchat.core.names import MAX_NAME_LENGTH
from asyncchat.frontends.irc.message import line, text_line
from asyncchat.frontends.line.parser import command_help, help_lines
from asyncchat.frontends.line.wire import said_text, stamp

EOL = "\r\n"
NETWORK = "asyncchat"
HOST = "asyncchat"
"""The host part of every user's mask: addresses are not shown to other users."""
QUIT_REASONS = {
    LeaveReason.QUIT,
    LeaveReason.CLOSED,
    LeaveReason.RESET,
    LeaveReason.TOO_SLOW,
    LeaveReason.SHUTDOWN,
    LeaveReason.KICKED,
    LeaveReason.BANNED,
    LeaveReason.GHOSTED,
    LeaveReason.PING_TIMEOUT,
}


def mask(nick: str) -> str:
    return f"{nick}!{nick}@{HOST}"


def channel(room: str) -> str:
    return "#" + room


def server_time(when: float) -> str:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp[:-3] + "Z"


def _leave_reason(reason: LeaveReason, message: str | None) -> str:
    if reason is LeaveReason.QUIT:
        return f"Quit: {message}" if message else "Quit"
    if reason in (LeaveReason.KICKED, LeaveReason.BANNED):
        return f"{str(reason.value).capitalize()} by {message}"
    return str(reason.value).capitalize()


def said_line(record: Record, room: str, tags: dict[str, str] | None = None) -> str:
    text = f"\x01ACTION {record.text}\x01" if record.action else record.text
    return text_line("PRIVMSG", channel(room), text, source=mask(record.sender), tags=tags)


def _encode(lines: list[str]) -> bytes:
    return "".join(text + EOL for text in lines).encode()


@functools.lru_cache(maxsize=64)
def broadcast(
    server: str, server_time: bool = False, away_notify: bool = False, message_tags: bool = False
) -> Broadcast:
    """The one encoder of a capability profile, shared by its clients (the
    Dispatcher encodes once per encoder, and hashes it by identity: fast)."""
    return Broadcast(server, server_time, away_notify, message_tags)


def profile(server: str, caps: set[str]) -> Broadcast:
    """The room encoder for a client with these capabilities."""
    return broadcast(server, "server-time" in caps, "away-notify" in caps, "message-tags" in caps)


@dataclass(frozen=True, slots=True, eq=False)
class Broadcast:
    """Renders what goes to rooms; `server_time`: with `@time=` tags. Get one from
    `broadcast()`, so each profile has one instance."""

    server: str
    server_time: bool = False
    away_notify: bool = False
    message_tags: bool = False

    def __call__(self, event: Event) -> bytes:
        return _encode(self.lines(event))

    def lines(self, event: Event) -> list[str]:
        match event:
            case Said(record, room, labels):
                tags = dict(labels) if self.message_tags else {}
                if self.server_time:
                    tags["time"] = server_time(record.time)
                return [said_line(record, room or record.room, tags)]
            case Tagged(sender, room, labels) if room and self.message_tags:
                return [line("TAGMSG", channel(room), source=mask(sender), tags=dict(labels))]
            case Joined(name, _, _, room):
                return [line("JOIN", channel(room or "lobby"), source=mask(name))]
            case Left(name, reason, message, room):
                if reason in QUIT_REASONS:
                    why = _leave_reason(reason, message)
                    return [text_line("QUIT", why, source=mask(name))]
                if message is None and reason is LeaveReason.PARTED:
                    return [line("PART", channel(room), source=mask(name))]
                return [
                    text_line("PART", channel(room), message or reason.value, source=mask(name))
                ]
            case Renamed(old, new):
                return [line("NICK", new, source=mask(old))]
            case Wall(sender, text):
                return [
                    text_line("NOTICE", "$*", f"notice from {sender}: {text}", source=self.server)
                ]
            case TopicChanged(name, room, topic):
                return [text_line("TOPIC", channel(room), topic, source=mask(name))]
            case AwayChanged(name, message):
                if not self.away_notify:
                    return []
                if message is None:
                    return [line("AWAY", source=mask(name))]
                return [text_line("AWAY", message, source=mask(name))]
        return []


_BATCHES = itertools.count(1)


@dataclass(slots=True)
class ClientState:
    """What one IRC client's replies depend on; its connection keeps it current."""

    server: str
    nick: str = "*"
    caps: set[str] = field(default_factory=set)
    online: int = 0
    """Users online, for the welcome's LUSERS lines."""
    queries: list[tuple[str, str]] = field(default_factory=list)
    """(NAMES or WHO, channel) asked of the hub, answered in order by Online events."""
    target: str = ""
    """The nick a private message was last sent to (for ERR_NOSUCHNICK)."""
    history_room: str = ""
    batch: str = ""
    sasl: bool = False
    """A SASL authentication is being checked: its answer is 903 or 904."""


class Personal:
    """Renders what goes to one client; `state` is its connection's."""

    __slots__ = ("_broadcast", "state")

    def __init__(self, state: ClientState) -> None:
        self.state = state
        self._broadcast = profile(state.server, state.caps)

    def __call__(self, event: Event) -> bytes:
        return _encode(self.lines(event))

    def numeric(self, code: str, *params: str) -> str:
        return line(code, self.state.nick, *params, source=self.state.server)

    def text_numeric(self, code: str, *params: str) -> str:
        return text_line(code, self.state.nick, *params, source=self.state.server)

    def notice(self, text: str) -> str:
        return text_line("NOTICE", self.state.nick, text, source=self.state.server)

    def welcome(self, nick: str) -> list[str]:
        state = self.state
        state.nick = nick
        server = state.server
        return [
            self.text_numeric("001", f"Welcome to the {NETWORK} IRC network, {mask(nick)}"),
            self.text_numeric("002", f"Your host is {server}, running asyncchat"),
            self.text_numeric("003", "This server was created today"),
            self.numeric("004", server, "asyncchat", "i", "n"),
            self.text_numeric("005", *isupport(), "are supported by this server"),
            self.text_numeric(
                "251", f"There are {state.online} users and 0 invisible on 1 servers"
            ),
            self.numeric("254", "0", "channels formed"),
            self.text_numeric("255", f"I have {state.online} clients and 0 servers"),
            self.text_numeric("422", "MOTD File is missing"),
        ]

    def names(self, room: str, names: tuple[str, ...]) -> list[str]:
        lines: list[str] = []
        chunk: list[str] = []
        for name in names:
            chunk.append(name)
            if len(chunk) == 20:
                lines.append(self.text_numeric("353", "=", channel(room), " ".join(chunk)))
                chunk = []
        if chunk:
            lines.append(self.text_numeric("353", "=", channel(room), " ".join(chunk)))
        return [*lines, self.text_numeric("366", channel(room), "End of /NAMES list")]

    def entered(self, room: str, names: tuple[str, ...], topic: str) -> list[str]:
        me = self.state.nick
        return [
            line("JOIN", channel(room), source=mask(me)),
            *([self.topic(room, topic)] if topic else []),
            *self.names(room, names),
        ]

    def topic(self, room: str, topic: str) -> str:
        if not topic:
            return self.text_numeric("331", channel(room), "No topic is set")
        return self.text_numeric("332", channel(room), topic)

    def lines(self, event: Event) -> list[str]:
        state = self.state
        match event:
            case Welcome() | AskName():
                return []
            case Hello(name, online, topic):
                state.online = max(state.online, len(online))
                return [*self.welcome(name), *self.entered("lobby", online, topic)]
            case RoomEntered(room, names, topic):
                return self.entered(room, names, topic)
            case TopicIs(room, topic):
                return [self.topic(room, topic)]
            case Rooms(rooms):
                return [
                    self.numeric("321", "Channel", "Users  Name"),
                    *(
                        self.text_numeric("322", channel(room), str(count), "")
                        for room, count in rooms
                    ),
                    self.text_numeric("323", "End of /LIST"),
                ]
            case HistoryStart(room):
                state.history_room = room
                if "batch" in state.caps:
                    state.batch = f"h{next(_BATCHES)}"
                    return [
                        line(
                            "BATCH",
                            "+" + state.batch,
                            "chathistory",
                            channel(room),
                            source=state.server,
                        )
                    ]
                return [self.notice_to(room, "Recent messages:")]
            case HistoryLine(record):
                room = state.history_room
                if state.batch:
                    tags = {"batch": state.batch, "time": server_time(record.time)}
                    return [said_line(record, room, tags)]
                return [self.notice_to(room, f"[{stamp(record.time)}] {said_text(record)}")]
            case HistoryEnd(room):
                if state.batch:
                    done, state.batch = state.batch, ""
                    return [line("BATCH", "-" + done, source=state.server)]
                return [self.notice_to(room, "End of recent messages")]
            case Private(sender, text, when, _):
                stamped = "server-time" in state.caps and when
                tags = {"time": server_time(when)} if stamped else {}
                return [text_line("PRIVMSG", state.nick, text, source=mask(sender), tags=tags)]
            case PrivateSent(recipient, text):
                if "echo-message" not in state.caps:
                    return []
                tags = {"time": server_time(time.time())} if "server-time" in state.caps else {}
                return [text_line("PRIVMSG", recipient, text, source=mask(state.nick), tags=tags)]
            case Online(names, away):
                kind, room = state.queries.pop(0) if state.queries else ("NAMES", "lobby")
                if kind == "WHO":
                    return [
                        *(self.who(channel(room), name, name in away) for name in names),
                        self.text_numeric("315", channel(room), "End of /WHO list"),
                    ]
                return self.names(room, names)
            case Renamed(old, new):
                if old == state.nick:
                    state.nick = new
                return [line("NICK", new, source=mask(old))]
            case Pong(token):
                return [line("PONG", state.server, token or state.server, source=state.server)]
            case HelpText(topic, operator):
                texts = help_lines(operator) if topic is None else (command_help(topic),)
                return [self.notice(text) for text in texts]
            case IsAway(name, message):
                return [self.text_numeric("301", name, message)]
            case AwayState(None):
                return [self.text_numeric("305", "You are no longer marked as being away")]
            case AwayState(_):
                return [self.text_numeric("306", "You have been marked as being away")]
            case Ignoring(name, on):
                return [self.notice(f"{'ignoring' if on else 'no longer ignoring'} {name}")]
            case IgnoreList(names):
                return [self.notice("Ignoring: " + (", ".join(names) or "nobody"))]
            case Bye(_):
                return [text_line("ERROR", "Closing link (Quit)")]
            case ShuttingDown():
                return [text_line("ERROR", "Closing link (server is shutting down)")]
            case AskPassword(name):
                return [self.notice(f"'{name}' is registered: give its password with PASS or SASL")]
            case AccountState(AccountChange.IDENTIFIED, name):
                logged_in = self.text_numeric(
                    "900", mask(state.nick), name, f"You are now logged in as {name}"
                )
                if state.sasl:
                    state.sasl = False
                    return [logged_in, self.text_numeric("903", "SASL authentication successful")]
                return [logged_in]
            case AccountState(change, name):
                return [self.notice(f"{change.value}: {name}")]
            case SignedInElsewhere():
                return [text_line("ERROR", "Closing link (signed in elsewhere)")]
            case Removed(reason, by, message):
                why = f"{reason.value} by {by}" + (f": {message}" if message else "")
                return [text_line("ERROR", f"Closing link ({why})")]
            case Notice(text):
                return [self.notice(text)]
            case Error(code, text):
                return self.error(code, text)
            case Wall(sender, text):
                return [self.notice(f"notice from {sender}: {text}")]
            case Tagged(sender, "", labels):
                if "message-tags" not in state.caps:
                    return []
                return [line("TAGMSG", state.nick, source=mask(sender), tags=dict(labels))]
            case Said() | Joined() | Left() | TopicChanged() | AwayChanged() | Tagged():
                return self._broadcast.lines(event)
        return []

    def who(self, where: str, name: str, away: bool) -> str:
        """One RPL_WHOREPLY: the user `name` seen in `where` (a channel, or "*")."""
        state = self.state
        return self.text_numeric(
            "352", where, name, HOST, state.server, name, "G" if away else "H", f"0 {name}"
        )

    def notice_to(self, room: str, text: str) -> str:
        return text_line("NOTICE", channel(room), text, source=self.state.server)

    def error(self, code: ErrorCode, text: str) -> list[str]:
        state = self.state
        if state.sasl:
            state.sasl = False
            reason = text.split(" (", 1)[0]  # the line protocol's hints do not apply
            return [self.text_numeric("904", f"SASL authentication failed: {reason}")]
        match code:
            case ErrorCode.NAME_REGISTERED:
                why = "Nickname is registered: sign in with SASL (or PASS) to use it"
                return [self.text_numeric("433", state.target or "*", why)]
            case ErrorCode.NAME_TAKEN:
                return [self.text_numeric("433", state.target or "*", text)]
            case ErrorCode.DEGRADED if state.nick == "*":  # registering: try again later
                return [self.text_numeric("437", state.target or "*", text)]
            case ErrorCode.BAD_NAME:
                return [self.text_numeric("432", state.target or "*", text)]
            case ErrorCode.NO_SUCH_USER | ErrorCode.SELF_MESSAGE:
                return [self.text_numeric("401", state.target or "*", text)]
            case ErrorCode.WRONG_PASSWORD | ErrorCode.TOO_MANY_ATTEMPTS:
                return [self.text_numeric("464", text)]
            case ErrorCode.MUTED:
                return [self.text_numeric("404", state.target or "*", text)]
            case ErrorCode.LINE_TOO_LONG:
                return [self.text_numeric("417", "Input line was too long")]
            case (
                ErrorCode.REGISTER_TIMEOUT
                | ErrorCode.SERVER_FULL
                | ErrorCode.TOO_MANY_CONNECTIONS
                | ErrorCode.BANNED
            ):
                return [text_line("ERROR", f"Closing link ({text})")]
        return [self.notice("error: " + text)]


def isupport() -> list[str]:
    return [
        "AWAYLEN=200",
        "CASEMAPPING=rfc8265",
        "CHANLIMIT=#:",
        "CHANNELLEN=25",
        "CHANTYPES=#",
        "CHANMODES=b,,,n",
        f"NETWORK={NETWORK}",
        f"NICKLEN={MAX_NAME_LENGTH}",
        "PREFIX=()",
        "STATUSMSG=",
        "TARGMAX=JOIN:,PART:,PRIVMSG:1,NOTICE:1,NAMES:1,WHOIS:1",
        f"TOPICLEN={MAX_TOPIC}",
        "UTF8ONLY",
    ]
