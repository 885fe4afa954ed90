"""The read side of one line-protocol client: bounded read-ahead and flood control.

A BufferedProtocol, so the server chooses how many bytes each read may take:
never more than `max_recvq` of a client's input are held ahead of what flood
control has let through. Past that, reading pauses and TCP holds the sender
back. Lines are cut out of those bytes one at a time, when the client's token
bucket allows. While reading is paused the transport cannot see a reset or a
close, so the socket's state is checked on every wake-up instead, and a user
who reset the connection is gone at once, whatever input was still waiting.

A client that has never sent a line ending (the classroom exercise's client
sends its name and each message bare) has its input cut into lines by pauses:
UNTERMINATED_PAUSE after its last data, what it sent is one line. Its first
LF makes it a line client for good.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from asyncchat.core.effects import Delivery, ToSession
from asyncchat.core.events import Event, LeaveReason
from asyncchat.core.hub.base import Ticket
from asyncchat.core.ratelimit import TokenBucket
from asyncchat.core.registry import Session, State
from asyncchat.edge.outbox import Peer, RoomBurst
from asyncchat.edge.sockets import keep_alive, peer_state
from asyncchat.frontends.line.framing import Frame, LineDecoder, Noise
from asyncchat.frontends.line.parser import interpret
from asyncchat.frontends.line.wire import encode

if TYPE_CHECKING:
    from asyncchat.edge.server import ChatServer

CHECK_INTERVAL: Final = 0.25
"""Longest wait, while paused, before the socket is checked for a reset or close."""
TIMER_SLACK: Final = 0.001
"""Timers may fire this early (uvloop counts milliseconds); a line due so soon is handled."""
UNTERMINATED_PAUSE: Final = 0.3
"""Before a client's first LF, this long without data ends its line. The segments
of one send that TCP split arrive within a round trip of each other
(milliseconds), and 300 ms is more than Linux's shortest retransmission timeout
(200 ms), so even a lost segment resent once rarely splits a message; a person
needs longer than 300 ms to type the next message, and does not notice a delay
this short before theirs is delivered."""


class LineConnection(asyncio.BufferedProtocol):
    """One client of the line protocol, from connect to leave."""

    peer: Peer
    session: Session[Peer]
    _transport: asyncio.Transport
    codec: Callable[[Event], bytes] = staticmethod(encode)
    """How events are written on this connection's wire."""
    cuts_unterminated = True
    """A pause ends a line until the client's first LF (the exercise's client)."""

    def __init__(self, server: ChatServer, ticket: Ticket | None = None) -> None:
        """`ticket`: admitted before its TLS handshake (else admitted on connect)."""
        self._server = server
        self._ticket = ticket
        self._hub = server.hub
        self._dispatch = server.dispatch
        config = server.config
        self._loop = asyncio.get_running_loop()
        self._max_recvq = config.max_recvq
        self._decoder = LineDecoder(self.line_limit(config.max_line))
        self._bucket = TokenBucket(config.rate, config.burst, self._loop.time())
        self._held: Frame | Noise | None = None
        self._ready_at = 0.0
        self._wake: asyncio.TimerHandle | None = None
        self._name_timer: asyncio.TimerHandle | None = None
        self._pause_timer: asyncio.TimerHandle | None = None
        self._data_at = 0.0
        self._cut_due = False
        self._paused = False
        self._after_eof: int | None = None
        self._gone = False
        self._sock: socket.socket | None = None

    @staticmethod
    def line_limit(max_line: int) -> int:
        """The longest line this front end takes (the line protocol: --max-line)."""
        return max_line

    @property
    def connected(self) -> bool:
        """The hub has this connection (its TLS handshake, if any, is done)."""
        return hasattr(self, "session")

    @property
    def buffered(self) -> int:
        """Bytes of this client's input read and not yet handled."""
        return self._decoder.buffered

    @property
    def paused(self) -> bool:
        """Reading is paused: --max-recvq bytes, or a line ended by a pause (which
        must not take in what came after the pause), are waiting for flood control."""
        return self._paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they have its methods.
        self._transport = transport = cast(asyncio.Transport, transport)
        self._sock = transport.get_extra_info("socket")
        if self._sock is not None:
            keep_alive(self._sock)
        if transport.get_extra_info("sslcontext") is not None:
            # The TLS layer reads ahead into its own buffer; bound it like ours.
            transport.set_read_buffer_limits(high=self._max_recvq)  # type: ignore[attr-defined]
        peername = transport.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) else None
        config = self._server.config
        self.peer = Peer(transport, config.max_sendq, self._server.outbox, self._cut, self.codec)
        self.peer.on_resume = self._pump
        self.peer.personal = self._personal()
        self.session, greeting = self._hub.connect(self.peer, host, self._ticket)
        self._dispatch.add(self.session.id, self.peer)
        self._dispatch(greeting)
        if self.session.state is State.GONE:
            self._gone = True
            transport.pause_reading()
            self.peer.finish()
            return
        self._server.connections.add(self)
        self._name_timer = self._loop.call_later(config.register_timeout, self._expire)

    def _personal(self) -> Callable[[Event], bytes]:
        """How what is addressed to this client alone is written (the line protocol:
        like everything else)."""
        return self.codec

    def get_buffer(self, sizehint: int) -> memoryview:
        room = self._max_recvq - self._decoder.buffered
        return self._server.scratch[: max(room, 1)]

    def buffer_updated(self, nbytes: int) -> None:
        if self._gone:
            return
        decoder = self._decoder
        decoder.feed(bytes(self._server.scratch[:nbytes]))
        if not decoder.seen_lf and self.cuts_unterminated:
            self._data_at = self._loop.time()
            if self._pause_timer is None:
                self._pause_timer = self._loop.call_later(UNTERMINATED_PAUSE, self._pause_elapsed)
        elif self._pause_timer is not None:
            self._stop_pause()
        self._pump()

    def eof_received(self) -> bool:
        self._closed_by_peer()
        # Keep the write side open for the answers still due; a TLS transport
        # closes anyway (and warns when asked not to), so it is not asked.
        return self._transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.stop_timer()
        self._leave(LeaveReason.RESET if exc is not None else LeaveReason.CLOSED)
        self._dispatch.remove(self.session.id)
        self._server.closed(self)

    def finish(self) -> None:
        """Close after what is queued has been sent (shutdown)."""
        self.peer.finish()

    def cut(self, reason: LeaveReason) -> None:
        self.peer.cut(reason)

    def _closed_by_peer(self) -> None:
        """EOF: at most --burst more of the lines already read are handled, then the user leaves."""
        if self._after_eof is None:
            self._eof()
            self._pump()

    def _pump(self) -> None:
        """Handle buffered lines while the token bucket allows; then decide on reading."""
        if self._gone:
            return
        if self._wake is None and not self.session.busy:
            self._handle()
        self._settle()

    def _handle(self) -> None:
        session = self.session
        now = self._loop.time()
        burst = RoomBurst(self._dispatch)
        try:
            while True:
                frame = self._held
                if frame is None:
                    frame = self._decoder.next()
                    if frame is None:
                        if not self._cut_due:
                            break
                        self._cut_due = False
                        frame = self._decoder.take_partial()
                        if frame is None:
                            continue
                    if self._after_eof is not None and isinstance(frame, Noise):
                        continue  # the user is leaving: noise need not be paid for
                    self._held = frame
                    self._ready_at = now + self._bucket.take(now)
                if self._ready_at - now > TIMER_SLACK:
                    burst.flush()
                    self._wake = self._loop.call_later(
                        min(self._ready_at - now, CHECK_INTERVAL), self._woken
                    )
                    break
                self._held = None
                if isinstance(frame, Noise):
                    continue
                self._take(frame, burst)
                if session.state is not State.NAMING and self._name_timer is not None:
                    self._name_timer.cancel()
                    self._name_timer = None
                if session.state is State.GONE:
                    break
                if self._after_eof is not None:
                    self._after_eof -= 1
                    if self._after_eof <= 0:
                        break
                if session.busy:  # until its password is checked (`on_resume`)
                    break
        finally:
            burst.flush()

    def _take(self, frame: Frame, burst: RoomBurst) -> None:
        """One frame of input: this front end's syntax made into hub commands."""
        session = self.session
        asked = interpret(frame, session.state is State.NAMING)
        if isinstance(asked, list):
            to = ToSession(session.id)
            burst.dispatch([Delivery(event, to) for event in asked])
        elif asked is not None:
            burst.dispatch(self._hub.handle(session, asked))

    def _settle(self) -> None:
        session = self.session
        if session.state is State.GONE:
            self._gone = True
            self._stop_timers()
            if not self._paused:
                self._transport.pause_reading()
            self.peer.finish()
            return
        if self._after_eof is not None:
            if session.busy:  # a password is being checked: its answer comes first
                return
            if self._wake is None or self._after_eof <= 0:
                self._leave(LeaveReason.CLOSED)
                self.peer.finish()
            return
        hold = self._cut_due or self._decoder.buffered >= self._max_recvq
        if hold and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        elif not hold and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def _woken(self) -> None:
        self._wake = None
        if self._gone:
            return
        if self._paused or self._after_eof is not None:  # the transport is not reading
            state = peer_state(self._sock)
            if state is LeaveReason.RESET:
                self._leave(LeaveReason.RESET)
                self._transport.abort()
                return
            if state is LeaveReason.CLOSED and self._after_eof is None:
                self._eof()
        self._pump()

    def _eof(self) -> None:
        """The peer closed: --burst more lines at most; a line it never ended is one."""
        self._after_eof = self._server.config.burst
        self._stop_pause()
        if not self._decoder.seen_lf and self._decoder.buffered:
            self._cut_due = True  # the exercise's client closes right after its last message

    def _pause_elapsed(self) -> None:
        """No data for UNTERMINATED_PAUSE before any LF: what is pending is one line.

        The timer is not moved on every read; it is set again here for what is
        left of the pause since the last data. The line is cut when flood control
        reaches it; reading waits until then (see `_settle`).
        """
        self._pause_timer = None
        if self._gone or self._after_eof is not None or self._decoder.seen_lf:
            return
        left = self._data_at + UNTERMINATED_PAUSE - self._loop.time()
        if left > TIMER_SLACK:
            self._pause_timer = self._loop.call_later(left, self._pause_elapsed)
            return
        self._cut_due = True
        self._pump()

    def _expire(self) -> None:
        self._name_timer = None
        session = self.session
        self._dispatch(self._hub.expire(session))
        if session.state is State.GONE:
            self._settle()

    def _cut(self, reason: LeaveReason) -> None:
        """The output side dropped the peer (too slow, shutdown)."""
        self._leave(reason)

    def _leave(self, reason: LeaveReason) -> None:
        self._gone = True
        self._stop_timers()
        self._dispatch(self._hub.leave(self.session, reason))

    def _stop_timers(self) -> None:
        for timer in (self._wake, self._name_timer, self._pause_timer):
            if timer is not None:
                timer.cancel()
        self._wake = self._name_timer = self._pause_timer = None

    def _stop_pause(self) -> None:
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
