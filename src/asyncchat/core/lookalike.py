"""Names that look alike: Unicode's confusable skeletons (UTS #39) and mixed scripts.

ICU's SpoofChecker (through the pyicu-wheels package, which ships ICU with
Unicode's current confusables data) does the work: no table is typed here.
"Alice" with a Cyrillic A, with a Greek Alpha, or with a dotless i all have the
skeleton `alice`; a name is compared by the skeleton of its case-folded key.
"""

from __future__ import annotations

from functools import cache

import icu


@cache
def _checker() -> icu.SpoofChecker:
    """One checker, configured once and then only read (ICU's checker is reentrant)."""
    checker = icu.SpoofChecker()
    checker.setChecks(icu.USpoofChecks.RESTRICTION_LEVEL)
    checker.setRestrictionLevel(icu.URestrictionLevel.HIGHLY_RESTRICTIVE)
    return checker


def skeleton(key: str) -> str:
    """What a name key looks like: equal skeletons are names a reader cannot tell apart.

    Case-folded again after the mapping, because ICU's prototypes can be capitals
    (the digit 0 becomes O), so `b0b` and `bob` meet.
    """
    return str(_checker().getSkeleton(0, key)).casefold()


def mixes_scripts(name: str) -> bool:
    """Latin with Cyrillic, Greek with Latin and the like: scripts mixed as no one writes.
    (Latin with Han, kana or Hangul, as Japanese and Korean are written, is fine.)"""
    return bool(_checker().check(name))
