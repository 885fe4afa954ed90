"""Name rules shared by user names and room names.

A name is shown as the user typed it (after NFKC) but compared by its key,
so `John`, `john` and a full-width `JOHN` are one name everywhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from asyncchat.core.lookalike import skeleton
from asyncchat.core.sanitize import invisible_characters

MAX_NAME_LENGTH = 24
RESERVED = frozenset({"server", "all"})
_RESERVED_LOOKS = {skeleton(name): name for name in RESERVED}
_PUNCTUATION = frozenset("_-.")
_CHARACTERS_RULE = "a name may contain only letters, digits, '_', '-' and '.'"
_LISTED_CODE_POINTS = 4


@dataclass(frozen=True, slots=True)
class Name:
    display: str
    key: str

    @property
    def skeleton(self) -> str:
        """How the name looks (UTS #39): two names that look alike share it."""
        return skeleton(self.key)


class InvalidName(ValueError):
    """Raised with a message that tells the user what a name may be."""


def name_key(text: str) -> str:
    """The case-insensitive identity of a name (NFKC, casefold, NFKC again)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] == "L"


def _allowed(char: str) -> bool:
    return char in _PUNCTUATION or _is_letter(char) or unicodedata.category(char) == "Nd"


def _code_points(characters: list[str]) -> str:
    listed = ", ".join(f"U+{ord(c):04X}" for c in characters[:_LISTED_CODE_POINTS])
    return listed + (", …" if len(characters) > _LISTED_CODE_POINTS else "")


def _hidden_problem(text: str) -> str | None:
    """Why a name with characters that show nothing (or nothing certain) is refused.

    Two names that look alike but differ by one must not both exist, and a
    name nobody can see or type cannot be addressed.
    """
    if text.isascii():
        return None
    kinds: list[str] = []
    invisible = invisible_characters(text)
    if invisible:
        kinds.append(f"invisible characters ({_code_points(invisible)})")
    private = [c for c in dict.fromkeys(text) if unicodedata.category(c) == "Co"]
    if private:
        kinds.append(f"private-use characters ({_code_points(private)})")
    return "a name cannot contain " + " or ".join(kinds) if kinds else None


def _syntax_problem(display: str, typed: str) -> str | None:
    """`display` is the name after NFKC; `typed` as sent, so errors name what was typed."""
    if not display:
        return "a name cannot be empty"
    allowed = all(_allowed(c) for c in display)
    hidden = _hidden_problem(typed) or _hidden_problem(display)
    if hidden is not None:
        return hidden if allowed else f"{hidden}, and {_CHARACTERS_RULE.removeprefix('a name ')}"
    if len(display) > MAX_NAME_LENGTH:
        return (
            f"a name can be at most {MAX_NAME_LENGTH} characters long (that one has {len(display)})"
        )
    if not allowed:
        return _CHARACTERS_RULE
    if not any(_is_letter(c) for c in display):
        return "a name needs at least one letter"
    return None


def looks_like_name(text: str) -> bool:
    """Syntactic check only: no reserved-word or uniqueness rules."""
    return _syntax_problem(unicodedata.normalize("NFKC", text), text) is None


def parse_name(text: str) -> Name:
    """Validate a name a user asked for; raise InvalidName saying why not."""
    typed = text.strip()
    display = unicodedata.normalize("NFKC", typed)
    problem = _syntax_problem(display, typed)
    if problem is not None:
        raise InvalidName(problem)
    key = name_key(display)
    if key in RESERVED:
        raise InvalidName(f"the name '{display}' is reserved")
    reserved = _RESERVED_LOOKS.get(skeleton(key))
    if reserved is not None:
        raise LooksLike(reserved)
    return Name(display, key)


MIXED_SCRIPTS = "it mixes alphabets as no one writes them (like Latin with Cyrillic)"


class LooksLike(InvalidName):
    """The name looks like `other` (a reserved one here; an online one at the claim)."""

    def __init__(self, other: str) -> None:
        super().__init__(other)
        self.other = other


def parse_room(text: str) -> Name:
    """A room name: the rules of user names, a leading `#` ignored, none reserved."""
    typed = text.strip()
    display = unicodedata.normalize("NFKC", typed).removeprefix("#")
    problem = _syntax_problem(display, typed)
    if problem is not None:
        raise InvalidName(problem)
    return Name(display, name_key(display))
