"""Repeated warnings, logged at most once per window per kind, with a count.

An attacker can make the server refuse thousands of connections a second;
one line each would fill the disk. The first warning of a kind is logged at
once; the ones after it within the window are counted, and the count is
logged with the last of them when the window has passed (`flush`, which the
edge calls periodically and at shutdown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 10.0


@dataclass(slots=True)
class _Kind:
    since: float
    suppressed: int = 0
    last: str = ""


class WarningThrottle:
    __slots__ = ("_clock", "_kinds", "_log", "_window")

    def __init__(
        self, log: logging.Logger, clock: Callable[[], float], window: float = WINDOW
    ) -> None:
        self._log = log
        self._clock = clock
        self._window = window
        self._kinds: dict[str, _Kind] = {}

    def warn(self, kind: str, message: str) -> None:
        """`kind` names a fixed category (a code constant, never user input)."""
        now = self._clock()
        state = self._kinds.get(kind)
        if state is not None and now - state.since < self._window:
            state.suppressed += 1
            state.last = message
            return
        if state is not None and state.suppressed:
            self._summarise(state, now)
        self._kinds[kind] = _Kind(now)
        self._log.warning("%s", message)

    def flush(self, *, everything: bool = False) -> None:
        """Log the counts whose window has passed (all of them when `everything`)."""
        now = self._clock()
        for state in self._kinds.values():
            if state.suppressed and (everything or now - state.since >= self._window):
                self._summarise(state, now)
                state.since = now

    def _summarise(self, state: _Kind, now: float) -> None:
        self._log.warning(
            "%s (%d more times in the last %.0f s)",
            state.last,
            state.suppressed,
            now - state.since,
        )
        state.suppressed = 0
