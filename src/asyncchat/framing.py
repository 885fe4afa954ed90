"""Turn the raw byte stream of one connection into lines.

Pure and incremental: bytes arrive in arbitrary chunks (a telnet command or a
UTF-8 character may be split across two reads), so every piece of state lives
in the decoder and nothing here touches a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

IAC = 0xFF
SE = 0xF0
SB = 0xFA
WILL, WONT, DO, DONT = 0xFB, 0xFC, 0xFD, 0xFE
LF = 0x0A
CR = 0x0D


class _Telnet(Enum):
    DATA = 0
    IAC = 1
    OPTION = 2
    SUB = 3
    SUB_IAC = 4


class TelnetFilter:
    """Removes telnet option negotiation (RFC 854/855) from a byte stream.

    `IAC IAC` is the escaped data byte 0xFF and is kept; every other IAC
    sequence, including a whole `IAC SB … IAC SE` subnegotiation, is dropped.
    """

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state = _Telnet.DATA

    def feed(self, data: bytes) -> bytes:
        if self._state is _Telnet.DATA and IAC not in data:
            return data
        out = bytearray()
        state = self._state
        for byte in data:
            if state is _Telnet.DATA:
                if byte == IAC:
                    state = _Telnet.IAC
                else:
                    out.append(byte)
            elif state is _Telnet.IAC:
                if byte == IAC:
                    out.append(IAC)
                    state = _Telnet.DATA
                elif byte in (WILL, WONT, DO, DONT):
                    state = _Telnet.OPTION
                elif byte == SB:
                    state = _Telnet.SUB
                else:
                    state = _Telnet.DATA
            elif state is _Telnet.OPTION:
                state = _Telnet.DATA
            elif state is _Telnet.SUB:
                if byte == IAC:
                    state = _Telnet.SUB_IAC
            elif byte == SE:
                state = _Telnet.DATA
            else:
                state = _Telnet.SUB
        self._state = state
        return bytes(out)


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


Frame = Line | LineTooLong | InvalidUtf8


class LineDecoder:
    """Splits a byte stream into lines no longer than `max_line` bytes.

    A too-long line is reported as soon as it is known to be too long, not
    when its LF finally arrives, and memory stays bounded by `max_line`.
    """

    __slots__ = ("_buffer", "_discarding", "_max_line", "_telnet")

    def __init__(self, max_line: int) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self._max_line = max_line
        self._buffer = bytearray()
        self._discarding = False
        self._telnet = TelnetFilter()

    def feed(self, data: bytes) -> list[Frame]:
        data = self._telnet.feed(data)
        frames: list[Frame] = []
        buffer = self._buffer
        start = 0
        end = len(data)
        while start < end:
            newline = data.find(b"\n", start)
            stop = end if newline < 0 else newline
            if self._discarding:
                if newline < 0:
                    return frames
                self._discarding = False
                start = newline + 1
                continue
            buffer += data[start:stop]
            if newline < 0:
                if self._overflowing(buffer):
                    frames.append(LineTooLong(self._max_line))
                    buffer.clear()
                    self._discarding = True
                return frames
            start = newline + 1
            if buffer.endswith(b"\r"):
                del buffer[-1]
            frames.append(self._complete(bytes(buffer)))
            buffer.clear()
        return frames

    def _overflowing(self, pending: bytearray) -> bool:
        # One extra byte is allowed only if it is the CR of a CRLF.
        size = len(pending)
        limit = self._max_line
        return size > limit + 1 or (size == limit + 1 and pending[-1] != CR)

    def _complete(self, raw: bytes) -> Frame:
        if len(raw) > self._max_line:
            return LineTooLong(self._max_line)
        try:
            return Line(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return InvalidUtf8()
