"""The output side of the edge: bytes to peers, coalesced, with the send-queue cut-off.

Nothing here knows a wire format: the hub's events are encoded once per
delivery, and the same bytes go to every target. Writes go straight into the
transport's buffer and never await a peer, so a slow reader costs only its
own buffer and is cut off when that buffer passes `max_sendq`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import assert_never

from asyncchat.core.directory import Directory
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    Target,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import Event, LeaveReason, Said
from asyncchat.core.hub import Hub

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


class Dispatcher:
    """Carries the hub's effects out: each event is encoded once, and its address
    (a session id, a room key) is resolved now, to the peers it names."""

    __slots__ = ("_directory", "_encode", "_hub", "peers")

    def __init__(self, hub: Hub[Peer], directory: Directory[Peer], encode: Encode) -> None:
        self._hub = hub
        self._directory = directory
        self._encode = encode
        self.peers: dict[int, Peer] = {}
        """Every open connection's output by session id (longer lived than the session)."""

    def __call__(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Close):
                peer = self.peers.get(effect.session)
                if peer is not None:
                    peer.finish()
            elif isinstance(effect, ClaimName):
                free = self._directory.claim(effect.key)
                self(self._hub.claimed(effect.session, effect.display, effect.key, free))
            else:
                self.send(self._encode(effect.event), effect.to)

    def encode(self, event: Event) -> bytes:
        return self._encode(event)

    def send(self, data: bytes, to: Target) -> None:
        match to:
            case ToRoom(room, exclude, skip):
                excluded = self._hub.session(exclude) if exclude else None
                members = self._hub.members(room)
                if skip:
                    for session in members:
                        if session is not excluded and session.id not in skip:
                            session.peer.send(data)
                else:
                    for session in members:
                        if session is not excluded:
                            session.peer.send(data)
            case ToSession(id):
                peer = self.peers.get(id)
                if peer is not None:
                    peer.send(data)
            case ToRooms(rooms):
                seen: set[int] = set()
                for room in rooms:
                    for session in self._hub.members(room):
                        if session.id not in seen:
                            seen.add(session.id)
                            session.peer.send(data)
            case ToSessions(ids):
                for id in ids:
                    peer = self.peers.get(id)
                    if peer is not None:
                        peer.send(data)
            case _:
                assert_never(to)


class RoomBurst:
    """Joins one client's consecutive room messages into one send per member.

    Safe because a public line or action changes no membership, and the
    burst is flushed before anything else is dispatched and before control
    returns to the loop (when other clients could change the room).
    """

    __slots__ = ("_data", "_dispatch", "_to")

    def __init__(self, dispatch: Dispatcher) -> None:
        self._dispatch = dispatch
        self._data: list[bytes] = []
        self._to: Target | None = None

    def dispatch(self, effects: list[Effect]) -> None:
        if len(effects) == 1:
            effect = effects[0]
            if isinstance(effect, Delivery) and isinstance(effect.event, Said):
                if self._data and effect.to != self._to:
                    self.flush()
                self._to = effect.to
                self._data.append(self._dispatch.encode(effect.event))
                return
        self.flush()
        self._dispatch(effects)

    def flush(self) -> None:
        if self._data and self._to is not None:
            data = self._data[0] if len(self._data) == 1 else b"".join(self._data)
            self._data = []
            self._dispatch.send(data, self._to)
