"""What makes a line stand out: your name mentioned, and a colour of its own per nick.

Pure functions, so the terminal client and its tests agree on them.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache

NICK_COLOURS = 8
"""Style classes nick0 … nick7; a name always gets the same one."""


def nick_class(name: str) -> str:
    """A stable colour for a name, the same in every run and for every spelling of its case
    (crc32, not hash(), which changes from run to run)."""
    return f"nick{zlib.crc32(name.casefold().encode()) % NICK_COLOURS}"


@lru_cache(maxsize=16)
def _mention(me: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(me)}(?![\w-])", re.IGNORECASE)


def mentions(text: str, me: str) -> bool:
    """Whether `text` names `me` as a word: "hi john!" does, "johnny" does not."""
    return bool(me) and _mention(me).search(text) is not None
