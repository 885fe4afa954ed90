"""What Tab completes, as a pure function of the text before the cursor."""

from __future__ import annotations

from collections.abc import Iterable

from asyncchat.frontends.line.parser import COMMAND_WORDS

COMMANDS = tuple(sorted(f"/{word}" for word in COMMAND_WORDS))
_NAME_AFTER = ("/msg ", "/nick ")


def completions(
    before_cursor: str, names: Iterable[str], me: str = "", rooms: Iterable[str] = ()
) -> list[str]:
    """Replacements for the last word: commands, `/msg NAME`, `/join #ROOM`, `NAME: `."""
    others = [name for name in names if name.casefold() != me.casefold()]
    if " " not in before_cursor:
        word = before_cursor
        if word.startswith("/"):
            return [c for c in COMMANDS if c.startswith(word.lower())]
        return [f"{name}: " for name in others if name.casefold().startswith(word.casefold())]
    if before_cursor.lower().startswith("/join ") and " " not in before_cursor[6:]:
        wanted = before_cursor[6:].removeprefix("#").casefold()
        return [f"#{room}" for room in rooms if room.casefold().startswith(wanted)]
    for command in _NAME_AFTER:
        rest = before_cursor[len(command) :]
        if before_cursor.lower().startswith(command) and " " not in rest:
            return [name for name in others if name.casefold().startswith(rest.casefold())]
    return []


def word_start(before_cursor: str) -> int:
    """How far back from the cursor the replaced word starts (a negative offset)."""
    return -len(before_cursor.rsplit(" ", 1)[-1])
