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
import time
from collections.abc import Collection, Iterable

from .config import ServerConfig
from .events import Action, LeaveReason, Public
from .framing import LineDecoder
from .hub import Delivery, Hub
from .ratelimit import TokenBucket
from .registry import Session, State
from .store import MessageStore
from .wire import encode

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
SHUTDOWN_GRACE = 4.0
MIN_CORK = 0.002
MAX_CORK = 0.050
STORM_FLUSHES = 8
BUSY = 0.9


class Outbox:
    """Coalesces writes: everything sent to a client before the next flush goes
    out as one write, however many lines and events it holds.

    A server with time to spare flushes on the next turn of the loop. When
    flushing has taken over BUSY of its time for STORM_FLUSHES flushes in a
    row (a storm: joins into a big room, each notifying everyone), the next
    flush waits about as long as the last one took, at most MAX_CORK, so the
    storm costs one write per client per flush rather than one per event.
    """

    __slots__ = ("_cork", "_dirty", "_last_end", "_loop", "_streak")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Connection] = []
        self._cork = 0.0
        self._streak = 0
        self._last_end = time.perf_counter()

    def mark(self, conn: Connection) -> None:
        if not self._dirty:
            if self._cork:
                self._loop.call_later(self._cork, self.flush)
            else:
                self._loop.call_soon(self.flush)
        self._dirty.append(conn)

    def flush(self) -> None:
        started = time.perf_counter()
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()
        ended = time.perf_counter()
        took, idle = ended - started, started - self._last_end
        self._last_end = ended
        busy = took > MIN_CORK and took > BUSY * (took + idle)
        self._streak = self._streak + 1 if busy else 0
        self._cork = min(took, MAX_CORK) if self._streak >= STORM_FLUSHES else 0.0


class Connection:
    """The edge's handle on one client: its StreamWriter and its reader task."""

    __slots__ = ("_max_sendq", "_outbox", "_pending", "_task", "closing", "cut_reason", "writer")

    def __init__(self, writer: asyncio.StreamWriter, max_sendq: int, outbox: Outbox) -> None:
        self.writer = writer
        self._max_sendq = max_sendq
        self._outbox = outbox
        self._pending: list[bytes] | None = None
        self._task = asyncio.current_task()
        self.closing = False
        self.cut_reason: LeaveReason | None = None

    def send(self, data: bytes) -> None:
        """Queue bytes for this turn's write; never blocks, never awaits."""
        if self.closing:
            return
        if self._pending is None:
            self._pending = [data]
            self._outbox.mark(self)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        transport = self.writer.transport
        if pending is None or self.closing or transport.is_closing():
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self._max_sendq:
            self.cut(LeaveReason.TOO_SLOW)

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now, unsent output and all, and stop its reader."""
        if self.cut_reason is not None:
            return
        self.closing = True
        self.cut_reason = reason
        self._pending = None
        self.writer.transport.abort()
        if self._task is not None:
            self._task.cancel()

    def finish(self) -> None:
        """Close once everything queued so far has been sent."""
        self.flush()
        self.closing = True
        self.writer.close()


def _send_all(
    data: bytes, targets: Collection[Session[Connection]], exclude: Session[Connection] | None
) -> None:
    for session in targets:
        if session is not exclude:
            session.peer.send(data)


def dispatch(deliveries: Iterable[Delivery[Connection]]) -> None:
    """Encode each event once and hand the same bytes to every target."""
    for delivery in deliveries:
        _send_all(encode(delivery.event), delivery.targets, delivery.exclude)


class RoomBurst:
    """Joins one client's consecutive room messages into one send per member.

    Safe because a public line or action changes no membership, and the
    burst is flushed before anything else is dispatched and before the
    reader awaits (when other clients could change the room).
    """

    __slots__ = ("_data", "_exclude", "_targets")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._targets: Collection[Session[Connection]] = ()
        self._exclude: Session[Connection] | None = None

    def dispatch(self, deliveries: list[Delivery[Connection]]) -> None:
        if len(deliveries) == 1 and isinstance(deliveries[0].event, Public | Action):
            delivery = deliveries[0]
            if self._data and (
                delivery.targets is not self._targets or delivery.exclude is not self._exclude
            ):
                self.flush()
            self._targets, self._exclude = delivery.targets, delivery.exclude
            self._data.append(encode(delivery.event))
            return
        self.flush()
        dispatch(deliveries)

    def flush(self) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"".join(self._data)
            self._data = []
            _send_all(data, self._targets, self._exclude)


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
        self._outbox: Outbox | None = None

    async def start(self) -> None:
        """Listen; an OSError here (like a StoreError from the constructor) means
        the server cannot run, and the history file is closed again."""
        self._outbox = Outbox(asyncio.get_running_loop())
        try:
            self._server = await asyncio.start_server(
                self._handle,
                self.config.host,
                self.config.port,
                limit=READ_SIZE,
                backlog=min(self.config.max_clients, 4096),
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
        assert self._outbox is not None
        conn = Connection(writer, self.config.max_sendq, self._outbox)
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
            await self._read(reader, session, timer)
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

    async def _read(
        self,
        reader: asyncio.StreamReader,
        session: Session[Connection],
        timer: asyncio.TimerHandle | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        decoder = LineDecoder(self.config.max_line)
        bucket = TokenBucket(self.config.rate, self.config.burst, loop.time())
        burst = RoomBurst()
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            for frame in decoder.feed(data):
                delay = bucket.take(loop.time())
                if delay:
                    burst.flush()
                    await asyncio.sleep(delay)
                burst.dispatch(self.hub.receive(session, frame))
                if timer is not None and session.state is State.CHATTING:
                    timer.cancel()
                    timer = None
                if session.state is State.GONE:
                    burst.flush()
                    return
            burst.flush()

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


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards --max-clients, as far as allowed."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("only %d open files allowed; fewer than --max-clients can connect", target)


async def serve(config: ServerConfig) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    _allow_open_files(config.max_clients + 64)
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
