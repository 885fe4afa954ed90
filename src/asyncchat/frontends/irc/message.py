"""IRC messages (modern.ircdocs.horse "Message format"): parse a line, write one.

    [@tags] [:source] COMMAND [params...] [:trailing]

Pure and total: every line parses to a Message or to None (nothing but
tags or spaces); the command is upper-cased; tag values are unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 512
"""Bytes of one message without its tags, CRLF included (RFC 1459)."""
MAX_TAGS = 4096
"""Bytes of the tags part a client may send, '@' and the space after it included
(modern.ircdocs.horse: client tag data at most 4094 bytes)."""

_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


@dataclass(frozen=True, slots=True)
class Message:
    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_UNESCAPE.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def parse(line: str) -> Message | None:
    """One message from a line without its line ending."""
    rest = line.lstrip(" ")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = _unescape(value)
        rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if not rest:
        return None
    trailing = None
    if " :" in rest:
        rest, _, trailing = rest.partition(" :")
    elif rest.startswith(":"):
        return None
    words = rest.split()
    if not words:
        return None
    params = words[1:] + ([trailing] if trailing is not None else [])
    return Message(words[0].upper(), tuple(params), source, tags)


def _middle(param: str) -> str:
    """A middle parameter as it may be written; a client's odd target becomes '*'."""
    return param if param and " " not in param and param[0] != ":" else "*"


def tag_text(tags: dict[str, str]) -> str:
    """The tags part of an outgoing line ('' when there are none)."""
    if not tags:
        return ""
    items = (
        key if not value else f"{key}={value.translate(_ESCAPE)}" for key, value in tags.items()
    )
    return "@" + ";".join(items) + " "


def line(
    command: str, *params: str, source: str | None = None, tags: dict[str, str] | None = None
) -> str:
    """One outgoing line without CRLF; the last parameter is trailing when it must be
    (empty, with a space, or starting with ':'), and always for a text parameter."""
    parts = [f":{source}"] if source else []
    parts.append(command)
    if params:
        *middle, last = params
        parts += map(_middle, middle)
        parts.append(f":{last}" if not last or " " in last or last[0] == ":" else last)
    return tag_text(tags or {}) + " ".join(parts)


def text_line(
    command: str, *params: str, source: str | None = None, tags: dict[str, str] | None = None
) -> str:
    """Like `line`, with the last parameter always trailing (message text)."""
    parts = [f":{source}"] if source else []
    parts += [command, *map(_middle, params[:-1]), ":" + params[-1]]
    return tag_text(tags or {}) + " ".join(parts)
