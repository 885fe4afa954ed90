"""The text of the line protocol: the one place that knows what lines look like.

Every server line starts with a prefix a program can dispatch on
(`<`, `* `, `*Name*`, `-> `, `*** `, `*** error: `).
"""

from __future__ import annotations

from .events import (
    Action,
    AskName,
    Bye,
    Error,
    Event,
    Hello,
    HelpText,
    Joined,
    LeaveReason,
    Left,
    Online,
    Pong,
    Private,
    PrivateSent,
    Public,
    Renamed,
    ShuttingDown,
    Welcome,
)

NOTICE = "*** "
ERROR = "*** error: "
EOL = "\r\n"

HELP_LINES = (
    "Commands:",
    "  message             say something to everyone in the room",
    "  NAME: message       private message to NAME",
    "  /msg NAME message   private message to NAME",
    "  /reply message      answer the last private message (also /r)",
    "  /me action          say what you do: * You wave",
    "  /all message        say it publicly even if it starts with 'name:'",
    "  //text              say '/text' publicly",
    "  /who                who is online (also /names, /users)",
    "  /nick NEWNAME       change your name",
    "  /ping [token]       check the server answers",
    "  /help               this list",
    "  /quit [reason]      leave",
)


def _online(names: tuple[str, ...]) -> str:
    return f"Online ({len(names)}): {', '.join(names)}"


def render(event: Event) -> list[str]:
    """The protocol lines for one event, without line endings."""
    match event:
        case Public(sender, text):
            return [f"<{sender}> {text}"]
        case Action(sender, text):
            return [f"* {sender} {text}"]
        case Private(sender, text):
            return [f"*{sender}* {text}"]
        case PrivateSent(recipient, text):
            return [f"-> *{recipient}* {text}"]
        case Welcome():
            return [NOTICE + "Welcome to asyncchat! What is your name?"]
        case AskName():
            return [NOTICE + "Please choose another name: type your name and press Enter."]
        case Hello(name, online):
            return [f"{NOTICE}Hello {name}! {_online(online)}. Type /help for commands."]
        case Joined(name, count):
            return [f"{NOTICE}{name} joined ({count} online)"]
        case Left(name, LeaveReason.QUIT, None):
            return [f"{NOTICE}{name} left"]
        case Left(name, LeaveReason.QUIT, message):
            return [f"{NOTICE}{name} left (quit: {message})"]
        case Left(name, reason, _):
            return [f"{NOTICE}{name} left ({reason.value})"]
        case Online(names):
            return [NOTICE + _online(names)]
        case Renamed(old, new):
            return [f"{NOTICE}{old} is now {new}"]
        case Pong(token):
            return [f"{NOTICE}pong {token}" if token else NOTICE + "pong"]
        case HelpText():
            return [NOTICE + line for line in HELP_LINES]
        case Bye(name):
            return [f"{NOTICE}Bye {name}!"]
        case ShuttingDown():
            return [NOTICE + "server is shutting down"]
        case Error(_, text):
            return [ERROR + text]
    raise TypeError(f"no rendering for {event!r}")


def encode(event: Event) -> bytes:
    """The bytes to send for one event: UTF-8, each line ending in CRLF."""
    return "".join(line + EOL for line in render(event)).encode()
