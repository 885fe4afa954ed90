"""Make user text safe to print on somebody else's terminal.

Whole escape sequences are removed, not just their ESC byte, so `ESC[2J` does
not leave a stray `[2J` behind; then every remaining control character goes.
"""

from __future__ import annotations

import re

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
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def has_forbidden(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def sanitize(text: str) -> str:
    """Remove escape sequences, control characters and bidi controls."""
    if not has_forbidden(text):
        return text
    return _FORBIDDEN.sub("", _ESCAPE_SEQUENCE.sub("", text))


def escape_forbidden(text: str) -> str:
    """Show forbidden characters as escapes (`\\x1b`), so an error can quote them."""
    return _FORBIDDEN.sub(lambda m: ascii(m[0])[1:-1], text)
