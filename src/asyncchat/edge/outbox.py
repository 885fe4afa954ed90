"""The output side of the edge: bytes to peers, coalesced, with the send-queue cut-off.

Nothing here knows a wire format: the hub's events are encoded once per
delivery, and the same bytes go to every target. Writes go straight into the
transport's buffer and never await a peer, so a slow reader costs only its
own buffer and is cut off when that buffer passes `max_sendq`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable

from asyncchat.core.events import Action, Event, LeaveReason, Public
from asyncchat.core.hub import Delivery
from asyncchat.core.registry import Session

MIN_CORK = 0.002
MAX_CORK = 0.050
STORM_FLUSHES = 8
BUSY = 0.9
FINISH_GRACE = 5.0
"""Seconds a finished connection may take to accept its last output before it is dropped."""

Encode = Callable[[Event], bytes]


class Outbox:
    """Coalesces writes: everything sent to a peer before the next flush goes
    out as one write, however many lines and events it holds.

    A server with time to spare flushes on the next turn of the loop. When
    flushing has taken over BUSY of its time for STORM_FLUSHES flushes in a
    row (a storm: joins into a big room, each notifying everyone), the next
    flush waits about as long as the last one took, at most MAX_CORK, so the
    storm costs one write per peer per flush rather than one per event.
    """

    __slots__ = ("_cork", "_dirty", "_last_end", "_loop", "_streak")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Peer] = []
        self._cork = 0.0
        self._streak = 0
        self._last_end = time.perf_counter()

    def mark(self, peer: Peer) -> None:
        if not self._dirty:
            if self._cork:
                self._loop.call_later(self._cork, self.flush)
            else:
                self._loop.call_soon(self.flush)
        self._dirty.append(peer)

    def flush(self) -> None:
        started = time.perf_counter()
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            peer.flush()
        ended = time.perf_counter()
        took, idle = ended - started, started - self._last_end
        self._last_end = ended
        busy = took > MIN_CORK and took > BUSY * (took + idle)
        self._streak = self._streak + 1 if busy else 0
        self._cork = min(took, MAX_CORK) if self._streak >= STORM_FLUSHES else 0.0


class Peer:
    """One connection's output: a per-turn queue, the send-queue cut-off, closing.

    `on_cut` is told when the peer is dropped for a reason of ours (too slow,
    shutdown), so the read side can say why the user left.
    """

    __slots__ = (
        "_finishing",
        "_max_sendq",
        "_on_cut",
        "_outbox",
        "_pending",
        "closing",
        "cut_reason",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        max_sendq: int,
        outbox: Outbox,
        on_cut: Callable[[LeaveReason], None],
    ) -> None:
        self.transport = transport
        self._max_sendq = max_sendq
        self._outbox = outbox
        self._on_cut = on_cut
        self._pending: list[bytes] | None = None
        self._finishing: asyncio.TimerHandle | None = None
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
        transport = self.transport
        if pending is None or self.closing or transport.is_closing():
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self._max_sendq:
            self.cut(LeaveReason.TOO_SLOW)

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now, unsent output and all."""
        if self.cut_reason is not None:
            return
        self.cut_reason = reason
        self.closing = True
        self._pending = None
        self.stop_timer()
        self.transport.abort()
        self._on_cut(reason)

    def finish(self) -> None:
        """Close once everything queued so far has been sent, or drop it after FINISH_GRACE."""
        if self.closing:
            return
        self.flush()
        self.closing = True
        self.transport.close()
        loop = asyncio.get_running_loop()
        self._finishing = loop.call_later(FINISH_GRACE, self.transport.abort)

    def stop_timer(self) -> None:
        if self._finishing is not None:
            self._finishing.cancel()
            self._finishing = None


def _send_all(
    data: bytes, targets: Collection[Session[Peer]], exclude: Session[Peer] | None
) -> None:
    for session in targets:
        if session is not exclude:
            session.peer.send(data)


def dispatch(deliveries: Iterable[Delivery[Peer]], encode: Encode) -> None:
    """Encode each event once and hand the same bytes to every target."""
    for delivery in deliveries:
        _send_all(encode(delivery.event), delivery.targets, delivery.exclude)


class RoomBurst:
    """Joins one client's consecutive room messages into one send per member.

    Safe because a public line or action changes no membership, and the
    burst is flushed before anything else is dispatched and before control
    returns to the loop (when other clients could change the room).
    """

    __slots__ = ("_data", "_encode", "_exclude", "_targets")

    def __init__(self, encode: Encode) -> None:
        self._encode = encode
        self._data: list[bytes] = []
        self._targets: Collection[Session[Peer]] = ()
        self._exclude: Session[Peer] | None = None

    def dispatch(self, deliveries: list[Delivery[Peer]]) -> None:
        if len(deliveries) == 1 and isinstance(deliveries[0].event, Public | Action):
            delivery = deliveries[0]
            if self._data and (
                delivery.targets is not self._targets or delivery.exclude is not self._exclude
            ):
                self.flush()
            self._targets, self._exclude = delivery.targets, delivery.exclude
            self._data.append(self._encode(delivery.event))
            return
        self.flush()
        dispatch(deliveries, self._encode)

    def flush(self) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"".join(self._data)
            self._data = []
            _send_all(data, self._targets, self._exclude)
