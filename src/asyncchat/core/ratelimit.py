"""Flood control as a token bucket; the caller supplies the clock."""

from __future__ import annotations

from typing import Final

NOISE_BYTES: Final = 512
"""Bytes of input that carry no text (blank lines, telnet negotiation, discarded
input) that cost one token, like one line of text: no input is free."""


class TokenBucket:
    """`burst` lines at once, then `rate` lines per second; rate 0 means no limit.

    `take` never refuses: it books the line and says how long to wait before
    handling it. The edge stops reading that socket meanwhile, so the
    client's kernel buffers fill and TCP slows the flooder without a line lost.
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """Book one line; return the seconds to wait before handling it (0.0: now)."""
        if self._rate == 0:
            return 0.0
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate) - 1.0
        self._stamp = now
        return 0.0 if self._tokens >= 0.0 else -self._tokens / self._rate
