"""The output side of the edge: bytes to peers, coalesced, with the send-queue cut-off.

Nothing here knows a wire format: the hub's events are encoded once per
delivery, and the same bytes go to every target. Writes go straight into the
transport's buffer and never await a peer, so a slow reader costs only its
own buffer and is cut off when that buffer passes `max_sendq`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, assert_never

from asyncchat.core.directory import Directory
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    PasswordWork,
    Target,
    ToEveryone,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import Event, LeaveReason, Said
from asyncchat.core.hub import Hub
from asyncchat.core.names import Name
from asyncchat.edge.passwords import PasswordWorker

MIN_CORK = 0.002
MAX_CORK = 0.050
STORM_FLUSHES = 8
BUSY = 0.9
FINISH_GRACE = 5.0
"""Seconds a finished connection may take to accept its last output before it is dropped."""

Encode = Callable[[Event], bytes]


class Sink(Protocol):
    """Where a peer's bytes go: an asyncio transport, or a WebSocket's frame writer."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


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
        "codec",
        "cut_reason",
        "on_resume",
        "personal",
        "transport",
    )

    def __init__(
        self,
        transport: Sink,
        max_sendq: int,
        outbox: Outbox,
        on_cut: Callable[[LeaveReason], None],
        codec: Encode,
    ) -> None:
        """`codec` turns events into this peer's wire format (one per front end)."""
        self.transport = transport
        self.codec = codec
        self._max_sendq = max_sendq
        self._outbox = outbox
        self._on_cut = on_cut
        self._pending: list[bytes] | None = None
        self._finishing: asyncio.TimerHandle | None = None
        self.closing = False
        self.cut_reason: LeaveReason | None = None
        self.on_resume: Callable[[], None] | None = None
        """Called when the session may go on reading (its password was checked)."""
        self.personal: Encode = codec
        """Encodes what is addressed to this peer alone (`codec`: what goes to rooms).
        The same as `codec` for the line protocol; an IRC client's own replies
        carry its nick and depend on its capabilities."""

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
    """Carries the hub's effects out: each event is encoded once per wire format in
    use, and its address (a session id, a room key) is resolved now, to the peers
    it names. With one front end in use (the common case) every delivery is one
    encode and a plain loop over its recipients."""

    __slots__ = ("_codecs", "_directory", "_hub", "_peers", "_worker")

    def __init__(self, hub: Hub[Peer], directory: Directory[Peer], worker: PasswordWorker) -> None:
        self._hub = hub
        self._directory = directory
        self._worker = worker
        # Every open connection's output by session id (it outlives the session).
        self._peers: dict[int, Peer] = {}
        self._codecs: Counter[Encode] = Counter()

    def add(self, session: int, peer: Peer) -> None:
        self._peers[session] = peer
        self._codecs[peer.codec] += 1

    def recode(self, session: int, peer: Peer, codec: Encode) -> None:
        """The peer's room encoder changes (an IRC client's capabilities did)."""
        self.remove(session)
        peer.codec = codec
        self.add(session, peer)

    def remove(self, session: int) -> None:
        peer = self._peers.pop(session, None)
        if peer is not None:
            self._codecs[peer.codec] -= 1
            if not self._codecs[peer.codec]:
                del self._codecs[peer.codec]

    def __call__(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Close):
                peer = self._peers.get(effect.session)
                if peer is not None:
                    peer.finish()
            elif isinstance(effect, ClaimName):
                self.claim(effect)
            elif isinstance(effect, PasswordWork):
                self._worker.run(effect, self._password_done)
            else:
                self.deliver((effect.event,), effect.to)

    def claim(self, effect: ClaimName) -> None:
        """Ask the directory whether a name is free, and go on with the answer."""
        name = Name(effect.display, effect.key)
        self(self._hub.claimed(effect, self._directory.claim(name)))

    def _password_done(self, work: PasswordWork, result: bool | str) -> None:
        self(self._hub.password_done(work, result))
        peer = self._peers.get(work.session)
        if peer is not None and peer.on_resume is not None:
            peer.on_resume()

    def deliver(self, events: Sequence[Event], to: Target) -> None:
        """Encode `events` once per wire format in use and send them to `to`."""
        if type(to) is ToSession or type(to) is ToSessions or type(to) is ToEveryone:
            self._personal(events, to)
            return
        if len(self._codecs) == 1:
            (codec,) = self._codecs
            self._send(_encoded(codec, events), to)
            return
        encoded: dict[Encode, bytes] = {}  # encoded lazily: only for the codecs met
        if type(to) is ToRoom:
            hub = self._hub
            excluded = hub.session(to.exclude) if to.exclude else None
            skip = to.skip
            # Most members share one codec: an identity test for them, a lookup for the rest.
            common: Encode | None = None
            common_data = b""
            for session in hub.members(to.room):
                if session is excluded or (skip and session.id in skip):
                    continue
                peer = session.peer
                codec = peer.codec
                if codec is common:
                    if common_data:
                        peer.send(common_data)
                    continue
                data = encoded.get(codec)
                if data is None:
                    data = encoded[codec] = _encoded(codec, events)
                if common is None:
                    common, common_data = codec, data
                if data:
                    peer.send(data)
            return
        for peer in self._targets(to):
            data = encoded.get(peer.codec)
            if data is None:
                data = encoded[peer.codec] = _encoded(peer.codec, events)
            if data:
                peer.send(data)

    def _personal(self, events: Sequence[Event], to: ToSession | ToSessions | ToEveryone) -> None:
        """Each peer's own encoder, each encoder used once."""
        encoded: dict[Encode, bytes] = {}
        for peer in self._targets(to):
            data = encoded.get(peer.personal)
            if data is None:
                data = encoded[peer.personal] = _encoded(peer.personal, events)
            if data:
                peer.send(data)

    def _send(self, data: bytes, to: Target) -> None:
        """The hot path: one wire format, the same bytes for everyone."""
        if not data:
            return
        if type(to) is not ToRoom:
            for peer in self._targets(to):
                peer.send(data)
            return
        hub = self._hub
        excluded = hub.session(to.exclude) if to.exclude else None
        skip = to.skip
        if skip:
            for session in hub.members(to.room):
                if session is not excluded and session.id not in skip:
                    session.peer.send(data)
        else:
            for session in hub.members(to.room):
                if session is not excluded:
                    session.peer.send(data)

    def _targets(self, to: Target) -> Iterator[Peer]:
        match to:
            case ToRoom(room, exclude, skip):
                for session in self._hub.members(room):
                    if session.id != exclude and session.id not in skip:
                        yield session.peer
            case ToRooms(rooms):
                seen: set[int] = set()
                for room in rooms:
                    for session in self._hub.members(room):
                        if session.id not in seen:
                            seen.add(session.id)
                            yield session.peer
            case ToSession(id):
                peer = self._peers.get(id)
                if peer is not None:
                    yield peer
            case ToSessions(ids):
                for id in ids:
                    peer = self._peers.get(id)
                    if peer is not None:
                        yield peer
            case ToEveryone():
                for session in self._hub.named():
                    yield session.peer
            case _:
                assert_never(to)


def _encoded(codec: Encode, events: Sequence[Event]) -> bytes:
    return codec(events[0]) if len(events) == 1 else b"".join([codec(e) for e in events])


class RoomBurst:
    """Joins one client's consecutive room messages into one send per member.

    Safe because a public line or action changes no membership, and the
    burst is flushed before anything else is dispatched and before control
    returns to the loop (when other clients could change the room).
    """

    __slots__ = ("_dispatch", "_events", "_to")

    def __init__(self, dispatch: Dispatcher) -> None:
        self._dispatch = dispatch
        self._events: list[Event] = []
        self._to: Target | None = None

    def dispatch(self, effects: list[Effect]) -> None:
        if len(effects) == 1:
            effect = effects[0]
            if isinstance(effect, Delivery) and isinstance(effect.event, Said):
                if self._events and effect.to is not self._to and effect.to != self._to:
                    self.flush()
                self._to = effect.to
                self._events.append(effect.event)
                return
        self.flush()
        self._dispatch(effects)

    def flush(self) -> None:
        if self._events and self._to is not None:
            events, self._events = self._events, []
            self._dispatch.deliver(events, self._to)
