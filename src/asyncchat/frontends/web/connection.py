"""One browser (or bot) on the WebSocket, from its first message to its leaving.

Input is read with the `websockets` asyncio API, one message at a time,
when flood control allows; while it waits, websockets stops reading (at most
`MAX_QUEUE` messages ahead) and TCP holds the sender back. Output does not go
through `send()`, which would make the hub wait for a slow browser: each event
is framed once (`encode`) and the same bytes are written to every receiver's
socket by the edge's `Peer`, with the same send-queue cut-off as every peer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State as SocketState

from asyncchat.core.effects import Delivery, Effect, ToSession
from asyncchat.core.events import Event, LeaveReason, Said
from asyncchat.core.hub.base import Ticket
from asyncchat.core.ratelimit import TokenBucket
from asyncchat.core.registry import State
from asyncchat.edge.outbox import Peer
from asyncchat.edge.sockets import peer_state
from asyncchat.frontends.web.events import as_text
from asyncchat.frontends.web.requests import interpret

if TYPE_CHECKING:
    from asyncchat.edge.server import ChatServer

log = logging.getLogger(__name__)

MAX_QUEUE: Final = 4
"""Messages websockets reads ahead of flood control before it stops reading."""
KEEPALIVE_TIMEOUT_CODE: Final = 1011
"""The close code websockets sends when a ping went unanswered."""


def encode(event: Event) -> bytes:
    """One event as one unmasked text frame: the same bytes for every receiver."""
    return Frame(Opcode.TEXT, as_text(event).encode()).serialize(mask=False)


class FrameSink:
    """What a `Peer` writes to, over an open WebSocket: whole frames, straight to
    the socket (compression is off, so a frame is the same for everyone)."""

    __slots__ = ("_closing", "_socket", "_transport")

    def __init__(self, socket: ServerConnection) -> None:
        self._socket = socket
        self._transport = socket.transport
        self._closing: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        if self._socket.protocol.state is SocketState.OPEN:
            self._transport.write(data)

    def is_closing(self) -> bool:
        return self._socket.protocol.state is not SocketState.OPEN or self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def abort(self) -> None:
        self._transport.abort()

    def close(self) -> None:
        """The closing handshake, after what was written (websockets' own timeout)."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._socket.close())


class WebSession:
    """The read side of one WebSocket user: messages → commands, flood control,
    the name timer; `Peer` is its output side."""

    peer: Peer

    def __init__(self, server: ChatServer, socket: ServerConnection, ticket: Ticket) -> None:
        self._server = server
        self._socket = socket
        self._ticket = ticket
        self._hub = server.hub
        self._dispatch = server.dispatch
        config = server.config
        self._loop = asyncio.get_running_loop()
        self._bucket = TokenBucket(config.rate, config.burst, self._loop.time())
        self._resumed = asyncio.Event()
        self._cut_reason: LeaveReason | None = None
        self._sock = socket.transport.get_extra_info("socket")

    async def run(self) -> None:
        """Serve the user until the socket closes or the hub lets them go."""
        server, socket = self._server, self._socket
        config = server.config
        peername = socket.remote_address
        host = peername[0] if isinstance(peername, tuple) else None
        self.peer = peer = Peer(
            FrameSink(socket), config.max_sendq, server.outbox, self._cut, encode
        )
        peer.on_resume = self._resumed.set
        self.session, greeting = self._hub.connect(peer, host, self._ticket)
        self._dispatch.add(self.session.id, peer)
        server.web_sessions.add(self)
        name_timer = self._loop.call_later(config.register_timeout, self._expire)
        try:
            self._dispatch(greeting)
            if self.session.state is not State.GONE:
                await self._read()
        finally:
            name_timer.cancel()
            self._dispatch(self._hub.leave(self.session, self._reason()))
            self._dispatch.remove(self.session.id)
            peer.finish()
            await socket.wait_closed()
            server.web_closed(self)

    async def _read(self) -> None:
        session, socket = self.session, self._socket
        config = self._server.config
        max_line = config.max_line
        after_close = config.burst
        while True:
            try:
                message = await socket.recv()
            except ConnectionClosed:
                return
            if socket.protocol.state is not SocketState.OPEN or peer_state(self._sock):
                # Gone, with messages still read ahead: --burst more at most, as after a
                # line client's EOF, so a flood does not go on speaking for it.
                after_close -= 1
                if after_close < 0:
                    return
            now = self._loop.time()
            delay = self._bucket.take(now)
            if delay > 0:
                await asyncio.sleep(delay)  # flood control: only this user's input waits
            naming = session.state is State.NAMING
            asked = interpret(message, naming, max_line, asked=session.asking)
            if isinstance(asked, list):
                to = ToSession(session.id)
                self._dispatch([Delivery(event, to) for event in asked])
            elif asked is not None:
                effects = self._hub.handle(session, asked)
                self._dispatch(effects)
                self._echo(effects)
            while session.busy and session.state is not State.GONE:
                self._resumed.clear()  # its password is being checked: later messages wait
                await self._resumed.wait()
            if session.state is State.GONE:
                return

    def _echo(self, effects: list[Effect]) -> None:
        """Your own public lines and actions come back to you, as the room got them (as
        IRC's echo-message): the page shows what was said, never what it hoped was."""
        mine = ToSession(self.session.id)
        for effect in effects:
            if isinstance(effect, Delivery) and isinstance(effect.event, Said):
                self._dispatch.deliver((effect.event,), mine)

    def _reason(self) -> LeaveReason:
        if self._cut_reason is not None:
            return self._cut_reason
        protocol = self._socket.protocol
        if protocol.close_rcvd is not None:
            return LeaveReason.CLOSED
        sent = protocol.close_sent
        if sent is not None and sent.code == KEEPALIVE_TIMEOUT_CODE:
            return LeaveReason.PING_TIMEOUT
        return LeaveReason.RESET

    def _expire(self) -> None:
        self._dispatch(self._hub.expire(self.session))
        self._resumed.set()  # a read loop waiting for a password check sees it is gone

    def _cut(self, reason: LeaveReason) -> None:
        """The output side dropped the socket (too slow, shutdown): the rooms are
        told now, not when the read side next wakes."""
        self._cut_reason = reason
        self._dispatch(self._hub.leave(self.session, reason))
        self._resumed.set()

    def overflowed(self) -> None:
        """websockets' own output (pongs) passed --max-sendq: too slow, like any peer."""
        if hasattr(self, "peer"):
            self.peer.cut(LeaveReason.TOO_SLOW)

    def finish(self) -> None:
        """Close after what is queued has been sent (shutdown)."""
        self.peer.finish()

    def cut(self, reason: LeaveReason) -> None:
        self.peer.cut(reason)
