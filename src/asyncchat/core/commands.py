"""The commands the hub carries out, whatever front end they were typed in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Register:
    """The name a new connection asks for (its first command); after AskPassword, the
    password, unless `fresh`: a front end that tells names from passwords (the web)
    says this is another name."""

    name: str
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class Say:
    """A public line to `room` (a key or name; None: the current room). `tags`: a
    front end's own labels passed on to those who can read them (IRC client tags)."""

    text: str
    room: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Act:
    text: str
    room: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Whisper:
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class Who:
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Join:
    """Enter a room. The line protocol moves (`keep_others` False: the rooms it
    was in are left); an IRC client keeps its other rooms."""

    room: str
    keep_others: bool = False


@dataclass(frozen=True, slots=True)
class Part:
    room: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class Nick:
    name: str


@dataclass(frozen=True, slots=True)
class Ping:
    token: str


@dataclass(frozen=True, slots=True)
class Help:
    """`topic`: one command's word (the front end checks it), or None for all."""

    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Away:
    """Mark the session away with `message`; None: back."""

    message: str | None


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str | None


@dataclass(frozen=True, slots=True)
class Ignore:
    """`name` None: list who is ignored."""

    name: str | None


@dataclass(frozen=True, slots=True)
class Unignore:
    name: str


@dataclass(frozen=True, slots=True)
class RegisterAccount:
    """Register the name in use with this password."""

    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Identify:
    """Sign in to an account: `name` None means the registered name asked for at
    naming, else the current one."""

    name: str | None
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChangePassword:
    old: str = field(repr=False)
    new: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Unregister:
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Kick:
    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Ban:
    """`target`: a name, an address or a CIDR; `minutes` None: until /unban."""

    target: str
    minutes: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Unban:
    target: str


@dataclass(frozen=True, slots=True)
class ListBans:
    pass


@dataclass(frozen=True, slots=True)
class Mute:
    name: str
    minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Unmute:
    name: str


@dataclass(frozen=True, slots=True)
class Wall:
    text: str


@dataclass(frozen=True, slots=True)
class Topic:
    """Ask (`text` None) or set the topic of `room` (None: the current room)."""

    room: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    """Only labels, no text, to a room (`#room`) or a user (IRC's TAGMSG)."""

    target: str
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Unknown:
    command: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """The line was understood but cannot be carried out; `problem` says why."""

    problem: str


Command = (
    Register
    | Say
    | Act
    | Whisper
    | Reply
    | Who
    | Join
    | Part
    | ListRooms
    | Nick
    | Ping
    | Help
    | Away
    | Quit
    | Ignore
    | Unignore
    | RegisterAccount
    | Identify
    | ChangePassword
    | Unregister
    | Kick
    | Ban
    | Unban
    | ListBans
    | Mute
    | Unmute
    | Wall
    | Topic
    | Tag
    | Unknown
    | Malformed
)
