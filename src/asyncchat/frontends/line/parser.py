"""The line protocol's input side: a frame in, one core command (or this front end's
own error) out.

Message text leaves here already sanitised; names are passed on raw, because
a name with a control character must be refused, not silently cleaned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from asyncchat.core.commands import (
    Act,
    Away,
    Ban,
    ChangePassword,
    Command,
    Help,
    Identify,
    Ignore,
    Join,
    Kick,
    ListBans,
    ListRooms,
    Malformed,
    Mute,
    Nick,
    Ping,
    Quit,
    Register,
    RegisterAccount,
    Reply,
    Say,
    Topic,
    Unban,
    Unignore,
    Unknown,
    Unmute,
    Unregister,
    Wall,
    Whisper,
    Who,
)
from asyncchat.core.events import AskName, Error, ErrorCode, Event
from asyncchat.core.names import looks_like_name
from asyncchat.core.sanitize import invisible_characters, invisible_only, sanitize
from asyncchat.frontends.line.framing import (
    Frame,
    InvalidUtf8,
    Line,
    LineTooLong,
    SubnegotiationTooLong,
)

_ADDRESSED = re.compile(r"([^\s:]+):(.*)", re.DOTALL)
_FIRST_WORD = re.compile(r"(\S*)\s*(.*)", re.DOTALL)
_EMPTY_AFTER_CLEANING = "nothing left to send after removing control characters"


def clean_text(text: str, usage: str) -> str | Malformed:
    """Message text sanitised for sending, or why there is nothing to send (`usage`
    when it was blank)."""
    if not text.strip():
        return Malformed(usage)
    clean = sanitize(text).strip()
    return Malformed(_EMPTY_AFTER_CLEANING) if invisible_only(clean) else clean


def whisper(target: str, text: str) -> Command:
    clean = clean_text(text, f"nothing to send: type '{sanitize(target)}: your message'")
    return clean if isinstance(clean, Malformed) else Whisper(target, clean)


def parse_command(line: str) -> Command | None:
    """Return the command a line asks for, or None for a blank line."""
    line = line.strip()
    if not line:
        return None
    if line.startswith("//"):
        return _say(line[1:])
    if line.startswith("/"):
        return _slash_command(line)
    clean = sanitize(line).strip()
    if invisible_only(clean):
        return Malformed(_EMPTY_AFTER_CLEANING)
    addressed = _ADDRESSED.match(clean)
    if addressed and _addressee(addressed[1]) and not addressed[2].lstrip().startswith("//"):
        return whisper(addressed[1], addressed[2])
    return Say(clean)


def _addressee(word: str) -> bool:
    """A name, or one with invisible characters in it: that one must not go public
    (the hub refuses it as not a valid name, and nothing is sent)."""
    if looks_like_name(word):
        return True
    hidden = invisible_characters(word)
    return bool(hidden) and looks_like_name("".join(c for c in word if c not in hidden))


def _split_word(text: str) -> tuple[str, str]:
    match = _FIRST_WORD.match(text)
    assert match is not None
    return match[1], match[2].strip()


def _say(text: str) -> Command:
    clean = clean_text(text, "nothing to send")
    return clean if isinstance(clean, Malformed) else Say(clean)


@dataclass(frozen=True, slots=True)
class Spec:
    """One slash command of the line protocol: what /help shows, how it parses.

    `parse` gets the rest of the line after the word, stripped. The table
    below is the one place a command is defined: the parser, the /help
    text and the client's Tab completion all read it.
    """

    word: str
    synopsis: str
    help: str
    parse: Callable[[str], Command]
    aliases: tuple[str, ...] = ()
    operator: bool = False
    """Listed by /help to operators only."""


def _needs(usage: str, make: Callable[[str], Command]) -> Callable[[str], Command]:
    return lambda rest: make(rest) if rest else Malformed(f"usage: {usage}")


def _msg(rest: str) -> Command:
    target, text = _split_word(rest)
    if not target or not text:
        return Malformed("usage: /msg NAME message")
    return whisper(target, text)


def _reply(rest: str) -> Command:
    clean = clean_text(rest, "usage: /reply message")
    return clean if isinstance(clean, Malformed) else Reply(clean)


def _act(rest: str) -> Command:
    clean = clean_text(rest, "usage: /me does something")
    return clean if isinstance(clean, Malformed) else Act(clean)


def _away(rest: str) -> Command:
    message = sanitize(rest).strip()
    return Away(message if message and not invisible_only(message) else None)


def _help(rest: str) -> Command:
    if not rest:
        return Help()
    word = rest.split()[0].removeprefix("/").lower()
    if word not in _BY_WORD:
        return Malformed(f"there is no command '/{sanitize(word)}' (/help lists them)")
    return Help(_BY_WORD[word].word)


def _identify(rest: str) -> Command:
    words = rest.split(None, 1)
    if not words:
        return Malformed("usage: /identify [NAME] PASSWORD")
    return Identify(None, words[0]) if len(words) == 1 else Identify(words[0], words[1])


def _password(rest: str) -> Command:
    words = rest.split(None, 1)
    if len(words) < 2:
        return Malformed("usage: /password OLD NEW")
    return ChangePassword(words[0], words[1])


def _reason(text: str) -> str | None:
    clean = sanitize(text).strip()
    return clean if clean and not invisible_only(clean) else None


def _kick(rest: str) -> Command:
    name, reason = _split_word(rest)
    return Kick(name, _reason(reason)) if name else Malformed("usage: /kick NAME [reason]")


def _minutes_then(rest: str, usage: str) -> tuple[str, int | None, str] | Malformed:
    """TARGET [minutes] [rest]: minutes are a whole number of at least 1."""
    target, rest = _split_word(rest)
    if not target:
        return Malformed(f"usage: {usage}")
    word, after = _split_word(rest)
    if word.isdecimal() and word.isascii():
        minutes = int(word)
        if not 1 <= minutes <= MAX_MINUTES:
            return Malformed(
                f"minutes must be between 1 and {MAX_MINUTES} (leave them out: forever)"
            )
        return target, minutes, after
    return target, None, rest


MAX_MINUTES = 10 * 365 * 24 * 60
BAN_USAGE = "/ban NAME|ADDRESS|CIDR [minutes] [reason]"


def _ban(rest: str) -> Command:
    parsed = _minutes_then(rest, BAN_USAGE)
    if isinstance(parsed, Malformed):
        return parsed
    target, minutes, reason = parsed
    return Ban(target, minutes, _reason(reason))


def _mute(rest: str) -> Command:
    parsed = _minutes_then(rest, "/mute NAME [minutes]")
    if isinstance(parsed, Malformed):
        return parsed
    name, minutes, extra = parsed
    if extra:
        return Malformed("usage: /mute NAME [minutes]")
    return Mute(name, minutes)


def command_help(word: str) -> str:
    """One command explained on one line, for /help COMMAND."""
    spec = _BY_WORD[word]
    aliases = ", ".join("/" + alias for alias in spec.aliases)
    return f"{spec.synopsis}: {spec.help}" + (f" (also {aliases})" if aliases else "")


COMMANDS: tuple[Spec, ...] = (
    Spec("msg", "/msg NAME message", "private message to NAME", _msg),
    Spec("reply", "/reply message", "answer the last private message", _reply, ("r",)),
    Spec("me", "/me action", "say what you do: * You wave", _act),
    Spec(
        "all",
        "/all message",
        "say it publicly even if it starts with 'name:'",
        _needs("/all message", _say),
    ),
    Spec("who", "/who", "who is in this room", lambda _: Who(), ("names", "users")),
    Spec(
        "join",
        "/join ROOM",
        "go to another room, creating it if needed",
        _needs("/join ROOM", Join),
    ),
    Spec("rooms", "/rooms", "the rooms and how many are in each", lambda _: ListRooms()),
    Spec("nick", "/nick NEWNAME", "change your name", _needs("/nick NEWNAME", Nick)),
    Spec(
        "ignore",
        "/ignore [NAME]",
        "hide NAME's lines and private messages; alone: who you ignore",
        lambda rest: Ignore(rest or None),
    ),
    Spec("unignore", "/unignore NAME", "stop ignoring NAME", _needs("/unignore NAME", Unignore)),
    Spec("ping", "/ping [token]", "check the server answers", lambda r: Ping(sanitize(r).strip())),
    Spec("away", "/away [message]", "say you are away; alone: you are back", _away),
    Spec(
        "topic",
        "/topic [text]",
        "set this room's topic; alone: show it",
        lambda rest: Topic(None, _reason(rest)),
    ),
    Spec("help", "/help [COMMAND]", "this list, or one command explained", _help),
    Spec(
        "register",
        "/register PASSWORD",
        "register your name: from then on it needs the password",
        _needs("/register PASSWORD", RegisterAccount),
    ),
    Spec(
        "identify",
        "/identify [NAME] PASSWORD",
        "sign in to a registered name (taking it over from an old connection)",
        _identify,
    ),
    Spec("password", "/password OLD NEW", "change your account's password", _password),
    Spec(
        "unregister",
        "/unregister PASSWORD",
        "free your registered name",
        _needs("/unregister PASSWORD", Unregister),
    ),
    Spec("quit", "/quit [reason]", "leave", lambda r: Quit(sanitize(r).strip() or None)),
    Spec("kick", "/kick NAME [reason]", "disconnect NAME", _kick, operator=True),
    Spec("ban", BAN_USAGE, "keep a name or addresses out", _ban, operator=True),
    Spec(
        "unban",
        "/unban NAME|ADDRESS|CIDR",
        "lift a ban",
        _needs("/unban NAME|ADDRESS|CIDR", Unban),
        operator=True,
    ),
    Spec("bans", "/bans", "the bans in force", lambda _: ListBans(), operator=True),
    Spec("mute", "/mute NAME [minutes]", "NAME may not speak in rooms", _mute, operator=True),
    Spec(
        "unmute",
        "/unmute NAME",
        "NAME may speak again",
        _needs("/unmute NAME", Unmute),
        operator=True,
    ),
    Spec(
        "wall",
        "/wall message",
        "a notice to everyone online",
        lambda rest: (
            Wall(clean)
            if isinstance(clean := clean_text(rest, "usage: /wall message"), str)
            else clean
        ),
        operator=True,
    ),
)
"""Every slash command, in the order /help lists them."""

_BY_WORD = {word: spec for spec in COMMANDS for word in (spec.word, *spec.aliases)}
SECRET_WORDS = frozenset({"register", "identify", "password", "unregister"})
"""Commands whose line carries a password: a client never echoes, shows or keeps it."""


def carries_password(line: str) -> bool:
    """True for a line a client must treat as secret (/identify …, /register …)."""
    word = line.strip().split(None, 1)[0].lower() if line.strip() else ""
    return word.startswith("/") and not word.startswith("//") and word[1:] in SECRET_WORDS


COMMAND_WORDS = tuple(_BY_WORD)
_FORMS = (
    ("message", "say something to everyone in the room"),
    ("NAME: message", "private message to NAME"),
)
_ESCAPED = ("//text", "say '/text' publicly")


def _help_line(synopsis: str, text: str) -> str:
    return f"  {synopsis:<19} {text}"


def help_lines(operator: bool = False) -> tuple[str, ...]:
    """The /help text: the plain forms, then every command from the table
    (an operator's own commands only for operators, under their own heading)."""
    lines = ["Commands:", *(_help_line(*form) for form in _FORMS)]
    for spec in COMMANDS:
        if spec.operator and not operator:
            continue
        if spec.operator and lines[-1].startswith("  /quit"):
            lines.append("Operator commands:")
        aliases = ", ".join("/" + alias for alias in spec.aliases)
        lines.append(
            _help_line(spec.synopsis, spec.help + (f" (also {aliases})" if aliases else ""))
        )
        if spec.word == "all":
            lines.append(_help_line(*_ESCAPED))
    return tuple(lines)


def _slash_command(line: str) -> Command:
    word, rest = _split_word(line[1:])
    spec = _BY_WORD.get(word.lower())
    if spec is None:
        return Unknown("/" + sanitize(word))
    return spec.parse(rest)


def interpret(frame: Frame, naming: bool) -> Command | list[Event] | None:
    """What a frame asks of the hub, or this front end's answer to a framing error
    (sent to the sender only; while naming, with the name question again)."""
    match frame:
        case Line(text):
            if naming:
                return Register(text) if text.strip() else None
            return parse_command(text)
        case LineTooLong(limit):
            error = Error(
                ErrorCode.LINE_TOO_LONG,
                f"line too long (the limit is {limit} bytes); it was not sent",
            )
        case InvalidUtf8():
            error = Error(ErrorCode.INVALID_UTF8, "that line was not valid UTF-8; it was not sent")
        case SubnegotiationTooLong(limit):
            error = Error(
                ErrorCode.LINE_TOO_LONG,
                f"telnet subnegotiation too long (the limit is {limit} bytes); discarded",
            )
        case _:
            assert_never(frame)
    return [error, AskName()] if naming else [error]
