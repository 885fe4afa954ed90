"""Name rules shared by user names and room names.

A name is shown as the user typed it (after NFKC) but compared by its key,
so `John`, `john` and a full-width `JOHN` are one name everywhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_NAME_LENGTH = 24
RESERVED = frozenset({"server", "all"})
_PUNCTUATION = frozenset("_-.")


@dataclass(frozen=True, slots=True)
class Name:
    display: str
    key: str


class InvalidName(ValueError):
    """Raised with a message that tells the user what a name may be."""


def name_key(text: str) -> str:
    """The case-insensitive identity of a name (NFKC, casefold, NFKC again)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] == "L"


def _allowed(char: str) -> bool:
    return char in _PUNCTUATION or _is_letter(char) or unicodedata.category(char) == "Nd"


def _syntax_problem(display: str) -> str | None:
    if not display:
        return "a name cannot be empty"
    if len(display) > MAX_NAME_LENGTH:
        return (
            f"a name can be at most {MAX_NAME_LENGTH} characters long (that one has {len(display)})"
        )
    if not all(_allowed(c) for c in display):
        return "a name may contain only letters, digits, '_', '-' and '.'"
    if not any(_is_letter(c) for c in display):
        return "a name needs at least one letter"
    return None


def looks_like_name(text: str) -> bool:
    """Syntactic check only: no reserved-word or uniqueness rules."""
    return _syntax_problem(unicodedata.normalize("NFKC", text)) is None


def parse_name(text: str) -> Name:
    """Validate a name a user asked for; raise InvalidName saying why not."""
    display = unicodedata.normalize("NFKC", text.strip())
    problem = _syntax_problem(display)
    if problem is not None:
        raise InvalidName(problem)
    key = name_key(display)
    if key in RESERVED:
        raise InvalidName(f"the name '{display}' is reserved")
    return Name(display, key)


def parse_room(text: str) -> Name:
    """A room name: the rules of user names, a leading `#` ignored, none reserved."""
    display = unicodedata.normalize("NFKC", text.strip()).removeprefix("#")
    problem = _syntax_problem(display)
    if problem is not None:
        raise InvalidName(problem)
    return Name(display, name_key(display))
