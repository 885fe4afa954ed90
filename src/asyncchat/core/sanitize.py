"""Make user text safe to print on somebody else's terminal.

Whole escape sequences are removed, not just their ESC byte, so `ESC[2J` does
not leave a stray `[2J` behind; then every remaining control character goes,
and with them the tag characters (invisible text that only machines read).
Combining marks stacked more than four deep ("zalgo" text, drawn over the
lines around it) are cut to four, which still spells every real language.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

MAX_COMBINING_MARKS = 4

_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[ [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?      # CSI
    | \x9b   [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?      # 8-bit CSI
    | [\x1b][\]PX^_] .*? (?:\x07|\x1b\\|\x9c|$)          # OSC, DCS, SOS, PM, APC
    | [\x90\x98\x9d\x9e\x9f] .*? (?:\x07|\x1b\\|\x9c|$)  # their 8-bit forms
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                     # any other ESC sequence
    """,
    re.VERBOSE | re.DOTALL,
)

# C0 but TAB, DEL, C1, bidi embeddings/overrides/isolates, and the Unicode
# line/paragraph separators that some clients split lines on.
_CONTROLS = "\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_TAGS = "\U000e0000-\U000e007f"
_ASCII_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_FORBIDDEN = re.compile(f"[{_CONTROLS}{_TAGS}]")

# Default_Ignorable_Code_Point, which Python's unicodedata does not have.
# Source: DerivedCoreProperties.txt of the Unicode Character Database
# (https://www.unicode.org/Public/UCD/latest/ucd/), Unicode 18.0.0; the set
# has not changed since 14.0.0. Adjacent rows of the file are merged here.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, MONGOLIAN VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER, invisible operators, bidi isolates, <reserved-2065>
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1..16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # <reserved>
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT controls
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN BEAM..END PHRASE
    (0xE0000, 0xE0FFF),  # tags, VARIATION SELECTOR-17..256, <reserved>
)

# Characters that draw nothing yet are neither default-ignorable nor format
# characters (the Hangul fillers are default-ignorable, so in the table above).
BLANK_FILLERS: tuple[tuple[int, int], ...] = ((0x2800, 0x2800),)  # BRAILLE PATTERN BLANK

# General category Co: the standard fixes these ranges for good.
PRIVATE_USE: tuple[tuple[int, int], ...] = (
    (0xE000, 0xF8FF),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
)

# Combining marks and format characters are only in these planes.
_SCANNED_PLANES = (range(0x0, 0x20000), range(0xE0000, 0xE1000))
_GENERAL_CATEGORIES = (
    "Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Cs Co Cn"
)
_ASTRAL = "\U00010000-\U0010ffff"


def _character_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\U{first:08x}-\\U{last:08x}" for first, last in ranges)


def _category_ranges() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Ranges of combining marks (Mn, Mc, Me) and of format characters (Cf)."""
    kind = {
        name: "M" if name[0] == "M" else "F" if name == "Cf" else "."
        for name in _GENERAL_CATEGORIES.split()
    }
    marks: list[tuple[int, int]] = []
    formats: list[tuple[int, int]] = []
    for plane in _SCANNED_PLANES:
        kinds = "".join(map(kind.__getitem__, map(unicodedata.category, map(chr, plane))))
        for found in re.finditer("M+|F+", kinds):
            into = marks if found[0][0] == "M" else formats
            into.append((plane.start + found.start(), plane.start + found.end() - 1))
    return marks, formats


class _Tables(NamedTuple):
    needs_work: re.Pattern[str]
    surplus_bmp_marks: re.Pattern[str]
    mark_candidates: re.Pattern[str]
    mark_run: re.Pattern[str]
    invisible: re.Pattern[str]
    visible: re.Pattern[str]
    quoted: re.Pattern[str]


@functools.cache
def _tables() -> _Tables:
    """The patterns built from unicodedata, made on first use: that takes ~30 ms.

    Python's re tests a BMP character against a class in one lookup but walks
    every astral range of the class, ~100 of them for the marks. So the hot
    path takes any astral character for a possible mark, and only a run that
    holds one is checked against the exact class.
    """
    marks, formats = _category_ranges()
    bmp_mark = _character_class(r for r in marks if r[1] <= 0xFFFF)
    candidate = f"[{bmp_mark}{_ASTRAL}]"
    invisible = _character_class([*DEFAULT_IGNORABLE, *formats, *BLANK_FILLERS])
    keep = MAX_COMBINING_MARKS
    first = f"[{_CONTROLS}{bmp_mark}{_ASTRAL}]"
    return _Tables(
        needs_work=re.compile(f"{first}(?:(?<=[{_CONTROLS}{_TAGS}])|{candidate * keep})"),
        surplus_bmp_marks=re.compile(f"(?<=[{bmp_mark}]{{{keep}}})[{bmp_mark}]+"),
        mark_candidates=re.compile(f"{candidate}{{{keep + 1},}}"),
        mark_run=re.compile(f"[{_character_class(marks)}]{{{keep + 1},}}"),
        invisible=re.compile(f"[{invisible}]"),
        visible=re.compile(f"[^\\s{invisible}]"),
        quoted=re.compile(f"[{_CONTROLS}{_TAGS}{invisible}{_character_class(PRIVATE_USE)}]"),
    )


def _keep_first_marks(run: re.Match[str]) -> str:
    return run[0][:MAX_COMBINING_MARKS]


def _cut_mark_runs(candidates: re.Match[str]) -> str:
    return _tables().mark_run.sub(_keep_first_marks, candidates[0])


def has_forbidden(text: str) -> bool:
    """Whether `sanitize` would remove a character (surplus combining marks aside)."""
    return _FORBIDDEN.search(text) is not None


def sanitize(text: str) -> str:
    """Remove escape sequences and control, bidi and tag characters; cut mark stacks.

    Every chat line passes here: text that needs nothing costs one regex
    search and comes back as the very same object.
    """
    if text.isascii():
        if _ASCII_CONTROL.search(text) is None:
            return text
        return _ASCII_CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    tables = _tables()
    if tables.needs_work.search(text) is None:
        return text
    clean = text
    if _FORBIDDEN.search(clean) is not None:
        clean = _FORBIDDEN.sub("", _ESCAPE_SEQUENCE.sub("", clean))
    clean = tables.surplus_bmp_marks.sub("", clean)
    if tables.mark_candidates.search(clean) is not None:
        clean = tables.mark_candidates.sub(_cut_mark_runs, clean)
    return text if clean == text else clean


def invisible_characters(text: str) -> list[str]:
    """The default-ignorable, format and blank filler characters in `text`, each once."""
    if text.isascii():
        return []
    return list(dict.fromkeys(_tables().invisible.findall(text)))


def invisible_only(text: str) -> bool:
    """True when nothing but whitespace is left once invisible characters are removed.

    Such a message would reach everyone as a blank line, so it gets the
    empty-message error instead.
    """
    if text.isascii():
        return not text or text.isspace()
    return _tables().visible.search(text) is None


def _escaped(character: re.Match[str]) -> str:
    return ascii(character[0])[1:-1]


def escape_forbidden(text: str) -> str:
    """Show forbidden, invisible and private-use characters as escapes (`\\x1b`, `\\u3164`).

    An error quotes what the user sent this way, so the user sees what was wrong.
    """
    pattern = _ASCII_CONTROL if text.isascii() else _tables().quoted
    return pattern.sub(_escaped, text)
