"""Turn the raw byte stream of one connection into lines, one at a time.

Pure and incremental: bytes arrive in arbitrary chunks (a telnet command or a
UTF-8 character may be split across two reads), so every piece of state lives
in the decoder and nothing here touches a socket. Lines are cut out only when
asked for (`LineDecoder.next`), so input that flood control has not let
through yet stays as bytes, never as a pile of line objects. A client that
never ends its lines has its pending partial line taken out on request
(`LineDecoder.take_partial`); when to ask is the connection's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asyncchat.core.ratelimit import NOISE_BYTES

IAC = 0xFF
CR = 0x0D

_IAC_SE = b"\xff\xf0"
_SUB_START = 0xFA
# The body of a subnegotiation: IAC IAC is a data byte, IAC SE ends it.
_SUB_BODY = re.compile(rb"(?:[^\xff]|\xff[^\xf0])*")


class TelnetFilter:
    """Removes telnet option negotiation (RFC 854/855) from a byte stream.

    `IAC IAC` is the escaped data byte 0xFF and is kept; every other IAC
    sequence, including a whole `IAC SB … IAC SE` subnegotiation, is dropped.
    Regular expressions do the work, so a stream of telnet noise costs no
    Python per byte: whole commands, and subnegotiations of at most `max_sub`
    plain bytes, are removed in one pass (`_whole`, `_command`). Any other
    subnegotiation is followed by a small state machine that scans each byte
    once, however it is split across reads; one longer than `max_sub` bytes is
    counted in `overlong` (once) and dropped like the others. `removed`
    counts the bytes taken out, for flood control.
    """

    __slots__ = (
        "_command",
        "_max_sub",
        "_reported",
        "_sub",
        "_tail",
        "_whole",
        "overlong",
        "removed",
    )

    def __init__(self, max_sub: int) -> None:
        self._max_sub = max_sub
        short_sub = rb"\xfa[^\xff]{0,%d}\xff\xf0" % max_sub
        self._whole = re.compile(
            rb"(?:[^\xff]+|\xff(?:[^\xfa-\xfe]|[\xfb-\xfe][\x00-\xff]|" + short_sub + rb"))*"
        )
        self._command = re.compile(
            rb"\xff(\xff)|\xff(?:[\xfb-\xfe][\x00-\xff]|" + short_sub + rb"|[\x00-\xfe])"
        )
        self._tail = b""
        self._sub: int | None = None
        self._reported = False
        self.removed = 0
        self.overlong = 0

    def feed(self, data: bytes) -> bytes:
        if self._tail:
            data, self._tail = self._tail + data, b""
        elif self._sub is None and IAC not in data:
            return data
        out = b""
        while data:
            if self._sub is not None:
                data = self._in_sub(data)
                continue
            whole = self._whole.match(data)
            end = whole.end() if whole is not None else 0
            head = data[:end]
            # split (not sub with a template): every match stays in C; IAC IAC keeps its 0xFF.
            kept = b"".join(filter(None, self._command.split(head))) if IAC in head else head
            self.removed += end - len(kept)
            out += kept
            data = data[end:]
            if len(data) >= 2 and data[1] == _SUB_START:
                self._sub = 0
                self.removed += 2
                data = data[2:]
            else:
                self._tail = data  # IAC, or IAC and a verb: waiting for the next read
                break
        return out

    def _in_sub(self, data: bytes) -> bytes:
        """Inside a subnegotiation: drop its body up to IAC SE; what follows is returned."""
        body = _SUB_BODY.match(data)
        end = body.end() if body is not None else 0
        self._sub = length = (self._sub or 0) + end
        self.removed += end
        if length > self._max_sub and not self._reported:
            self.overlong += 1
            self._reported = True
        if data[end : end + 2] == _IAC_SE:
            self.removed += 2
            self._sub = None
            self._reported = False
            return data[end + 2 :]
        self._tail = data[end:]  # empty, or a lone IAC that may start IAC SE
        return b""


@dataclass(frozen=True, slots=True)
class Line:
    """One complete, valid UTF-8 line without its LF or CRLF."""

    text: str


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line exceeded the limit; its remainder up to the LF is discarded."""

    limit: int


@dataclass(frozen=True, slots=True)
class InvalidUtf8:
    """A complete line that was not valid UTF-8; it is dropped."""


@dataclass(frozen=True, slots=True)
class SubnegotiationTooLong:
    """A telnet subnegotiation exceeded the line limit; it is discarded."""

    limit: int


@dataclass(frozen=True, slots=True)
class Noise:
    """NOISE_BYTES of input that carried no text; it costs a token and nothing more."""


NOISE = Noise()
Frame = Line | LineTooLong | InvalidUtf8 | SubnegotiationTooLong
"""What the core is handed; `Noise` stays at the edge."""


class LineDecoder:
    """Splits a byte stream into lines no longer than `max_line` bytes.

    `feed` only stores bytes (after telnet stripping); `next` cuts out one
    frame at a time. A too-long line is reported as soon as it is known to be
    too long, not when its LF finally arrives, and what the decoder holds is
    what was fed and not yet taken, plus at most one partial line.
    Blank and whitespace-only lines, telnet bytes and discarded input are
    counted as noise: every NOISE_BYTES of it comes out as one `Noise`.
    """

    __slots__ = (
        "_buffer",
        "_discarding",
        "_max_line",
        "_noise",
        "_pos",
        "_seen_lf",
        "_telnet",
    )

    def __init__(self, max_line: int) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self._max_line = max_line
        self._buffer = bytearray()
        self._pos = 0
        self._discarding = False
        self._noise = 0
        self._seen_lf = False
        self._telnet = TelnetFilter(max_line)

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet taken out as frames or paid for as noise.

        Noise is counted here although it is not stored, so a stream of it
        cannot be read faster than flood control charges for it.
        """
        return len(self._buffer) - self._pos + self._noise

    @property
    def seen_lf(self) -> bool:
        """The stream has carried a line ending (LF, after telnet bytes are removed),
        or telnet negotiation (a telnet client, which may send every key as it is
        typed): from then on its lines end only at an LF, never at `take_partial`."""
        return self._seen_lf

    def feed(self, data: bytes) -> None:
        telnet = self._telnet
        data = telnet.feed(data)
        if telnet.removed:
            self._noise += telnet.removed
            telnet.removed = 0
            self._seen_lf = True
        if not self._seen_lf and b"\n" in data:
            self._seen_lf = True
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def next(self) -> Frame | Noise | None:
        """The next frame, or None until more bytes are fed."""
        buffer = self._buffer
        while True:
            if self._noise >= NOISE_BYTES:
                self._noise -= NOISE_BYTES
                return NOISE
            if self._telnet.overlong:
                self._telnet.overlong -= 1
                return SubnegotiationTooLong(self._max_line)
            start = self._pos
            newline = buffer.find(b"\n", start)
            if newline < 0:
                frame = self._partial()
                if frame is None and self._noise >= NOISE_BYTES:
                    continue
                return frame
            self._pos = newline + 1
            if self._discarding:
                self._discarding = False
                self._noise += newline + 1 - start
                continue
            end = newline
            if end > start and buffer[end - 1] == CR:
                end -= 1
            frame = self._frame(buffer[start:end], newline + 1 - start)
            if frame is not None:
                return frame

    def take_partial(self) -> Frame | None:
        """End the pending partial line here, as an LF would, and return it as a frame.

        For a client that never sends a line ending: its lines end where it
        pauses, which the connection decides. Call it after `next` returned
        None, so that complete lines and noise come out first. The bytes pass
        the checks of `next` (a CR at the end is dropped, as in CRLF) and leave
        the buffer, so `buffered` stops counting them unless they are noise.
        None if nothing is pending, if it is blank (noise, like a blank line),
        or if it is the rest of a too-long line already reported: that line
        ends here, and the next bytes start a new one instead of being discarded.
        """
        start = self._pos
        pending = len(self._buffer) - start
        if self._discarding:
            self._discarding = False
            self._noise += pending
            self._drop()
            return None
        if not pending:
            return None
        raw = bytes(self._buffer[start:])
        self._drop()
        return self._frame(raw[:-1] if raw[-1] == CR else raw, pending)

    def _frame(self, raw: bytes | bytearray, size: int) -> Frame | None:
        """A line's bytes (ending removed) as a frame; None if blank, which is noise.
        `size` is what the line took of the stream, its ending included."""
        if not raw or raw.isspace():
            self._noise += size
            return None
        if len(raw) > self._max_line:
            self._noise += size
            return LineTooLong(self._max_line)
        try:
            return Line(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return InvalidUtf8()

    def _partial(self) -> Frame | None:
        pending = len(self._buffer) - self._pos
        if self._discarding:
            self._noise += pending
            self._drop()
            return None
        if self._overflowing(pending):
            self._discarding = True
            self._noise += pending
            self._drop()
            return LineTooLong(self._max_line)
        return None

    def _drop(self) -> None:
        self._buffer.clear()
        self._pos = 0

    def _overflowing(self, size: int) -> bool:
        # One extra byte is allowed only if it is the CR of a CRLF.
        limit = self._max_line
        return size > limit + 1 or (size == limit + 1 and self._buffer[-1] != CR)
