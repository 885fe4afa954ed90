"""The asyncio edge of the daemon: sockets in, hub decisions out.

One reader task per connection; writes go straight into the transport's
buffer and never await a peer, so a slow reader costs only its own buffer
and is cut off when that buffer passes `max_sendq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

from .config import ServerConfig
from .events import LeaveReason
from .framing import LineDecoder
from .hub import Delivery, Hub
from .ratelimit import TokenBucket
from .registry import Session, State
from .store import MessageStore
from .wire import encode

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
SHUTDOWN_GRACE = 4.0


class Connection:
    """The edge's handle on one client: its StreamWriter and its reader task."""

    __slots__ = ("_max_sendq", "_task", "closing", "cut_reason", "writer")

    def __init__(self, writer: asyncio.StreamWriter, max_sendq: int) -> None:
        self.writer = writer
        self._max_sendq = max_sendq
        self._task = asyncio.current_task()
        self.closing = False
        self.cut_reason: LeaveReason | None = None

    def send(self, data: bytes) -> None:
        transport = self.writer.transport
        if self.closing or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_sendq:
            self.cut(LeaveReason.TOO_SLOW)

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now, unsent output and all, and stop its reader."""
        if self.cut_reason is not None:
            return
        self.closing = True
        self.cut_reason = reason
        self.writer.transport.abort()
        if self._task is not None:
            self._task.cancel()

    def finish(self) -> None:
        """Close once what is already buffered has been sent."""
        self.closing = True
        self.writer.close()


def dispatch(deliveries: Iterable[Delivery[Connection]]) -> None:
    """Encode each event once and hand the same bytes to every target."""
    for delivery in deliveries:
        data = encode(delivery.event)
        exclude = delivery.exclude
        for session in delivery.targets:
            if session is not exclude:
                session.peer.send(data)


class ChatServer:
    def __init__(self, config: ServerConfig, *, shutdown_grace: float = SHUTDOWN_GRACE) -> None:
        self.config = config
        self._shutdown_grace = shutdown_grace
        self.store: MessageStore | None = None
        if config.db != ":memory:":
            self.store = MessageStore(config.db, config.history_keep)
        self.hub: Hub[Connection] = Hub(config, keep=self.store.put if self.store else None)
        if self.store is not None:
            self.hub.history.load(self.store.recent(config.history))
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._connections: set[Connection] = set()

    async def start(self) -> None:
        """Listen; a StoreError or OSError here means the server cannot run."""
        try:
            self._server = await asyncio.start_server(
                self._handle, self.config.host, self.config.port, limit=READ_SIZE
            )
        except OSError:
            if self.store is not None:
                self.store.close()
            raise
        if self.store is not None:
            self.store.start()
            log.info("history in %s", self.store.path)
        else:
            log.info("history in memory only (--db :memory:)")
        for address in self.addresses:
            log.info("listening on %s:%d", address[0], address[1])

    @property
    def addresses(self) -> list[tuple[str, int]]:
        if self._server is None:
            return []
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(writer, self.config.max_sendq)
        session, greeting = self.hub.connect(conn)
        dispatch(greeting)
        if session.state is State.GONE:
            conn.finish()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections.add(conn)
        timer = asyncio.get_running_loop().call_later(
            self.config.register_timeout, self._expire, session
        )
        reason = LeaveReason.CLOSED
        try:
            await self._read(reader, session)
        except asyncio.CancelledError:
            if conn.cut_reason is None:
                raise
            reason = conn.cut_reason
        except ConnectionError:
            reason = LeaveReason.RESET
        finally:
            timer.cancel()
            dispatch(self.hub.leave(session, reason))
            conn.finish()
            self._connections.discard(conn)
            self._handlers.discard(task)

    def _expire(self, session: Session[Connection]) -> None:
        dispatch(self.hub.expire(session))
        if session.state is State.GONE:
            session.peer.finish()

    async def _read(self, reader: asyncio.StreamReader, session: Session[Connection]) -> None:
        loop = asyncio.get_running_loop()
        decoder = LineDecoder(self.config.max_line)
        bucket = TokenBucket(self.config.rate, self.config.burst, loop.time())
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            for frame in decoder.feed(data):
                delay = bucket.take(loop.time())
                if delay:
                    await asyncio.sleep(delay)
                dispatch(self.hub.receive(session, frame))
                if session.state is State.GONE:
                    return

    async def shutdown(self) -> None:
        """Stop accepting, tell everyone, flush, close; abort what will not flush."""
        if self._server is not None:
            self._server.close()
        dispatch(self.hub.shutdown())
        for conn in list(self._connections):
            conn.finish()
        handlers = set(self._handlers)
        if handlers:
            _, stuck = await asyncio.wait(handlers, timeout=self._shutdown_grace)
            for conn in list(self._connections):
                conn.cut(LeaveReason.SHUTDOWN)
            if stuck:
                await asyncio.wait(stuck, timeout=0.5)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 0.5)
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None
        log.info("stopped")


async def serve(config: ServerConfig) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    server = ChatServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        log.info("signal received; shutting down")
    finally:
        await server.shutdown()
