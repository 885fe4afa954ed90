"""Wrong passwords slow down: after MAX_FAILURES for one name, or from one address,
within WINDOW seconds, further tries wait until the oldest of them is WINDOW old.

Guessing is then at most MAX_FAILURES tries a minute per name, however many
addresses an attacker has, and per address, however many names it tries.
Both tables are bounded: an entry lives at most WINDOW seconds, and past
MAX_TRACKED entries the oldest are forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

MAX_FAILURES = 3
WINDOW = 60.0
MAX_TRACKED = 100_000
"""Names plus addresses remembered at once."""


class Attempts:
    """Recent wrong passwords by name key and by address."""

    __slots__ = ("_failures",)

    def __init__(self) -> None:
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def wait(self, name: str, address: str | None, now: float) -> int:
        """Whole seconds before a try for `name` from `address` is allowed (0: now)."""
        self._expire(now)
        wait = 0.0
        for key in _keys(name, address):
            failures = self._failures.get(key)
            if failures is not None and len(failures) >= MAX_FAILURES:
                wait = max(wait, failures[0] + WINDOW - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, name: str, address: str | None, now: float) -> None:
        for key in _keys(name, address):
            failures = self._failures.pop(key, None) or deque(maxlen=MAX_FAILURES)
            failures.append(now)
            self._failures[key] = failures  # to the end: the most recently failed
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def _expire(self, now: float) -> None:
        """Forget entries whose last failure is WINDOW old (they are in that order)."""
        failures = self._failures
        while failures:
            key, stamps = next(iter(failures.items()))
            if now - stamps[-1] < WINDOW:
                return
            del failures[key]


def _keys(name: str, address: str | None) -> tuple[str, ...]:
    """Names and addresses share one table; the prefix keeps them apart."""
    return ("n:" + name,) if address is None else ("n:" + name, "a:" + address)
