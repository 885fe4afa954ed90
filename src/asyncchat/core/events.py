"""What the hub decides should reach people, before any wire format.

The line protocol renders these in `render`; other front ends (IRC,
WebSocket) can render the same events their own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LeaveReason(Enum):
    QUIT = "quit"
    MOVED = "moved to another room"
    PARTED = "parted"
    CLOSED = "connection closed"
    RESET = "connection reset"
    TOO_SLOW = "too slow"
    SHUTDOWN = "server shutting down"
    KICKED = "kicked"
    BANNED = "banned"
    GHOSTED = "signed in elsewhere"
    PING_TIMEOUT = "ping timeout"
    NODE_LOST = "node lost"


class ErrorCode(Enum):
    LINE_TOO_LONG = "line-too-long"
    INVALID_UTF8 = "invalid-utf8"
    BAD_NAME = "bad-name"
    NAME_TAKEN = "name-taken"
    NAME_REGISTERED = "name-registered"
    NO_SUCH_USER = "no-such-user"
    SELF_MESSAGE = "self-message"
    NO_REPLY_TARGET = "no-reply-target"
    UNKNOWN_COMMAND = "unknown-command"
    BAD_COMMAND = "bad-command"
    SERVER_FULL = "server-full"
    TOO_MANY_CONNECTIONS = "too-many-connections"
    TOO_MANY_ROOMS = "too-many-rooms"
    NOT_IGNORING = "not-ignoring"
    TOO_MANY_IGNORED = "too-many-ignored"
    REGISTER_TIMEOUT = "register-timeout"
    WRONG_PASSWORD = "wrong-password"
    TOO_MANY_ATTEMPTS = "too-many-attempts"
    BAD_PASSWORD = "bad-password"
    NOT_REGISTERED = "not-registered"
    NOT_IDENTIFIED = "not-identified"
    TOO_MANY_ACCOUNTS = "too-many-accounts"
    BUSY = "busy"
    BANNED = "banned"
    MUTED = "muted"
    NOT_OPERATOR = "not-operator"
    TOO_MANY_BANS = "too-many-bans"
    DEGRADED = "degraded"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True)
class Welcome:
    pass


@dataclass(frozen=True, slots=True)
class AskName:
    pass


@dataclass(frozen=True, slots=True)
class Hello:
    name: str
    online: tuple[str, ...]
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Joined:
    """`moved`: came from another room (counted as "here", not "online")."""

    name: str
    count: int
    moved: bool = False
    room: str = ""


@dataclass(frozen=True, slots=True)
class RoomEntered:
    """Told to the one who moved: the room they are in now and who is there."""

    room: str
    names: tuple[str, ...]
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Rooms:
    rooms: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One public line or action, live or from history: the one record type for both.

    `room` is the room's key, `time` Unix time (UTC), `id` the hub's message
    id (0 for a line read back from the file or by a client).
    """

    room: str
    time: float
    sender: str
    text: str
    action: bool = False
    id: int = 0


@dataclass(frozen=True, slots=True)
class HistoryStart:
    room: str


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """`room`: the room's shown name (the record has its key)."""

    record: Record
    room: str = ""


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    room: str


@dataclass(frozen=True, slots=True)
class Left:
    """`room`: the room left, or "" when a user in several rooms leaves them all
    at once (told once to everyone who shared any of them)."""

    name: str
    reason: LeaveReason
    message: str | None = None
    room: str = ""


@dataclass(frozen=True, slots=True)
class Said:
    """A public line or an action (`record.action`), to everyone else in its room;
    `room` is the room's shown name (the record has its key)."""

    record: Record
    room: str = ""
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Private:
    sender: str
    text: str
    time: float = 0.0
    id: int = 0


@dataclass(frozen=True, slots=True)
class PrivateSent:
    recipient: str
    text: str


@dataclass(frozen=True, slots=True)
class Online:
    """`away`: those of `names` who are away."""

    names: tuple[str, ...]
    away: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Renamed:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Pong:
    token: str


@dataclass(frozen=True, slots=True)
class HelpText:
    """`operator`: the asker may use operator commands (they are listed too)."""

    topic: str | None = None
    operator: bool = False


@dataclass(frozen=True, slots=True)
class IsAway:
    """Told to whoever wrote privately to an away user."""

    name: str
    message: str


@dataclass(frozen=True, slots=True)
class AwayState:
    """Told to the user: away with `message`, or back (None)."""

    message: str | None


@dataclass(frozen=True, slots=True)
class Ignoring:
    """The answer to /ignore NAME (`on`) or /unignore NAME."""

    name: str
    on: bool


@dataclass(frozen=True, slots=True)
class IgnoreList:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bye:
    name: str


@dataclass(frozen=True, slots=True)
class ShuttingDown:
    pass


@dataclass(frozen=True, slots=True)
class AskPassword:
    """The name asked for is registered: the next line is taken as its password."""

    name: str


class AccountChange(Enum):
    REGISTERED = "registered"
    IDENTIFIED = "identified"
    PASSWORD_CHANGED = "password changed"
    UNREGISTERED = "unregistered"


@dataclass(frozen=True, slots=True)
class AccountState:
    """The answer to /register, /identify, /password and /unregister."""

    change: AccountChange
    name: str


@dataclass(frozen=True, slots=True)
class SignedInElsewhere:
    """Told to a connection whose name was taken over by its password."""


@dataclass(frozen=True, slots=True)
class Removed:
    """Told to a user an operator removed: `reason` is KICKED or BANNED."""

    reason: LeaveReason
    by: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Wall:
    """An operator's notice to everyone."""

    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class TopicIs:
    """The answer to asking a room's topic ("" when it has none)."""

    room: str
    topic: str


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """Told to the room: `name` set its topic ("" cleared it)."""

    name: str
    room: str
    topic: str


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """Told to the user's rooms (IRC's away-notify; the line protocol shows nothing)."""

    name: str
    message: str | None


@dataclass(frozen=True, slots=True)
class Tagged:
    """Labels without text from `sender`, to `room` ("" for a private one); only
    front ends that carry labels show it (IRC TAGMSG with message-tags)."""

    sender: str
    room: str
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """Any other server notice, e.g. a line of /help, as read back by a client."""

    text: str


@dataclass(frozen=True, slots=True)
class Error:
    code: ErrorCode
    text: str


Event = (
    Welcome
    | AskName
    | Hello
    | Joined
    | RoomEntered
    | Rooms
    | HistoryStart
    | HistoryLine
    | HistoryEnd
    | Left
    | Said
    | Private
    | PrivateSent
    | Online
    | Renamed
    | Pong
    | HelpText
    | IsAway
    | AwayState
    | Ignoring
    | IgnoreList
    | Bye
    | ShuttingDown
    | AskPassword
    | AccountState
    | SignedInElsewhere
    | Removed
    | Wall
    | TopicIs
    | TopicChanged
    | AwayChanged
    | Tagged
    | Notice
    | Error
)
