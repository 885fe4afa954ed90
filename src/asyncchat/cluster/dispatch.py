"""Carrying the hub's effects out on one node of a cluster.

What concerns only this node's sessions one by one (answers, errors, Hello)
is delivered at once, as on a single server. Everything that reaches a
room, everyone, or a session on another node is published to the log
instead, with the state changes that caused it, and delivered by every
node (this one too) when it reads the entry back: so every node delivers
a room's lines in the log's one order, to its own members only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from asyncchat.cluster.codec import (
    BadEntry,
    dump,
    dump_event,
    dump_target,
    load,
    load_event,
    load_target,
)
from asyncchat.cluster.directory import ClusterDirectory, SessionState, node_of
from asyncchat.cluster.link import (
    Claimed,
    Handlers,
    Link,
    Outgoing,
    Snapshot,
    Unreachable,
    name_keys,
)
from asyncchat.cluster.stores import KeptWrite, SharedHistory, SharedKept
from asyncchat.core.accounts import Account
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    Target,
    ToEveryone,
    ToRoom,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    AskName,
    Error,
    ErrorCode,
    Event,
    Joined,
    LeaveReason,
    Notice,
    Private,
    Said,
    SignedInElsewhere,
    Tagged,
)
from asyncchat.core.hub import Hub
from asyncchat.core.hub.routing import NO_NAME, NOT_SENT
from asyncchat.core.moderation import Ban, Mute
from asyncchat.core.names import Name, name_key
from asyncchat.core.registry import Session, State
from asyncchat.edge.outbox import Dispatcher, Peer
from asyncchat.edge.passwords import PasswordWorker

log = logging.getLogger(__name__)

DOWN = "the chat is degraded: this server cannot reach the others; nothing is sent until it is back"
BACK = "the chat is back"
NAME_LOST = "your name was taken while this server was cut off from the chat; connect again"


MAX_UNSENT = 10_000
"""Account, ban and mute changes kept while Redis cannot be reached (bounded)."""
MESSAGES = ("Said", "Private")
"""What a user sent that others were to receive: each lost one gets its own error."""


class ClusterDispatcher(Dispatcher):
    """A Dispatcher that publishes what others must see (see the module docstring)."""

    __slots__ = (
        "_batch",
        "_claims",
        "_closes",
        "_cluster",
        "_depth",
        "_history",
        "_kept",
        "_link",
        "_reclaiming",
        "_senders",
        "_unsent",
        "node",
    )

    def __init__(
        self,
        hub: Hub[Peer],
        directory: ClusterDirectory[Peer],
        worker: PasswordWorker,
        link: Link,
        history: SharedHistory,
        kept: SharedKept,
    ) -> None:
        super().__init__(hub, directory, worker)
        self._cluster = directory
        self._link = link
        self._history = history
        self._kept = kept
        self.node = directory.node
        self._batch: list[list[Any]] = []
        self._closes: list[int] = []
        self._senders: set[int] = set()
        self._depth = 0
        self._claims: set[asyncio.Task[None]] = set()
        self._unsent: list[tuple[list[Any], list[KeptWrite]]] = []
        self._reclaiming = False

    def handlers(self) -> Handlers:
        return Handlers(
            self.entries,
            self.failed,
            self.down,
            self.up,
            self.reload,
            self.forgotten,
            self.names_lost,
        )

    def _here(self, id: int) -> bool:
        return node_of(id) == self.node

    # Publishing what this node decided.

    def __call__(self, effects: Iterable[Effect]) -> None:
        self._depth += 1
        try:
            for effect in effects:
                if isinstance(effect, Close) and not self._here(effect.session):
                    self._closes.append(effect.session)
                else:
                    super().__call__((effect,))
        finally:
            self._depth -= 1
        if not self._depth:
            self._publish()

    def deliver(self, events: Sequence[Event], to: Target) -> None:
        if type(to) is ToSession:
            if self._here(to.id):
                if self._depth:  # answering a command: its sender, if something fails
                    self._senders.add(to.id)
                super().deliver(events, to)
                return
        elif type(to) is ToSessions:
            here = tuple(id for id in to.ids if self._here(id))
            there = tuple(id for id in to.ids if not self._here(id))
            if here:
                super().deliver(events, ToSessions(here))
            if not there:
                return
            to = ToSessions(there)
        elif type(to) is ToRoom and to.exclude and self._here(to.exclude):
            self._senders.add(to.exclude)
        self._batch.append([[dump_event(e) for e in events], dump_target(to)])
        if not self._depth:
            self._publish()

    def _publish(self, sync: list[SessionState] | None = None) -> None:
        changes = self._cluster.drain()
        said = self._history.drain()
        ops, writes = self._kept.drain()
        batch, closes, senders = self._batch, self._closes, self._senders
        self._batch, self._closes, self._senders = [], [], set()
        if not (batch or closes or changes or said or ops or sync is not None):
            return
        payload: dict[str, Any] = {}
        if changes.states:
            payload["s"] = [dump(state) for state in changes.states]
        if changes.gone:
            payload["g"] = [state.id for state in changes.gone]
        if changes.evicted:
            payload["x"] = changes.evicted
        if changes.topics:
            payload["t"] = changes.topics
        if ops:
            payload["k"] = ops
        if batch:
            sender = next(iter(senders)) if len(senders) == 1 else 0
            payload["e"] = [[*delivery, sender] for delivery in batch]
        if closes:
            payload["c"] = closes
        if sync is not None:
            payload["sync"] = [dump(state) for state in sync]
        release = [pair for s in changes.gone for pair in self._link.forget(self._keys_of(s.id, s))]
        for old in changes.renamed:
            release += self._link.forget(self._keys_of(old.id, old))
        entry = Outgoing(
            payload,
            states=sync if sync is not None else changes.states,
            gone=[state.id for state in changes.gone],
            topics=changes.topics,
            history=said,
            kept=writes,
            release=release,
            senders=tuple(senders) if batch else (),
            replace=sync is not None,
        )
        if not self._link.publish(entry):
            self.failed([entry])

    def _keys_of(self, id: int, old: SessionState) -> list[str]:
        """The name keys `old` held that session `id` does not hold now."""
        now = self._hub.session(id)
        keep = (
            set(name_keys(Name(now.name, now.key)))
            if now is not None and now.state is State.CHATTING
            else set()
        )
        return [key for key in name_keys(Name(old.name, old.key)) if key not in keep]

    def claim(self, effect: ClaimName) -> None:
        session = self._hub.session(effect.session)
        if session is None:
            return
        session.busy = True  # the front end holds its input until the answer
        task = asyncio.get_running_loop().create_task(self._claim(effect))
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    async def _claim(self, effect: ClaimName) -> None:
        try:
            await self._claim_name(effect)
        finally:  # the front end goes on reading, whatever became of the session
            peer = self._peers.get(effect.session)
            if peer is not None and peer.on_resume is not None:
                peer.on_resume()

    async def _claim_name(self, effect: ClaimName) -> None:
        name = Name(effect.display, effect.key)
        try:
            claimed: Claimed | None = await self._link.claim(effect.session, name, effect.force)
        except Unreachable:
            claimed = None
        if claimed is not None and claimed.displaced is not None:
            self._evict_ghost(claimed.displaced)
        session = self._hub.session(effect.session)
        if session is None:
            if claimed is not None and claimed.holder is None:
                await self._link.release(self._link.forget(name_keys(name)))
            return
        session.busy = False
        if claimed is None:
            to = ToSession(session.id)
            refused: list[Effect] = [Delivery(Error(ErrorCode.DEGRADED, NO_NAME), to)]
            if not effect.rename:
                refused.append(Delivery(AskName(), to))
            self(refused)
            return
        self(self._hub.claimed(effect, claimed.holder))
        named = session.state is State.CHATTING and session.key == effect.key
        if claimed.holder is None and not named:  # refused after all (mixed scripts, gone)
            current = name_keys(Name(session.name, session.key)) if session.key else []
            unused = [key for key in name_keys(name) if key not in current]
            await self._link.release(self._link.forget(unused))

    def _evict_ghost(self, id: int) -> None:
        """A password took a name from session `id`, which this node may not have
        known yet: its node closes it as signed in elsewhere."""
        if self._here(id):
            session = self._hub.session(id)
            if session is not None and session.state is State.CHATTING:
                self(self._ghosted(session))
            return
        if not self._link.publish(Outgoing({"ghost": [id]})):
            log.warning("could not tell node %d that session %d is a ghost", node_of(id), id)

    def _ghosted(self, session: Session[Peer]) -> list[Effect]:
        return [
            Delivery(SignedInElsewhere(), ToSession(session.id)),
            *self._hub.leave(session, LeaveReason.GHOSTED),
            Close(session.id),
        ]

    # What the link reports.

    def entries(self, entries: list[tuple[int, dict[str, Any]]]) -> None:
        """Entries read from the log, in its order (this node's own too)."""
        for origin, payload in entries:
            try:
                self._apply(origin, payload)
            except (BadEntry, KeyError, TypeError, ValueError) as problem:
                log.warning("skipped a log entry from node %d: %s", origin, problem)
            except Exception:  # a bug here must not stop the node reading the log
                log.exception("could not apply a log entry from node %d", origin)
        try:
            self._publish()  # what other nodes' decisions changed here (a kicked user's names)
        except Exception:
            log.exception("could not publish what the log changed here")

    def _apply(self, origin: int, payload: dict[str, Any]) -> None:
        hub, directory = self._hub, self._cluster
        mine = origin == self.node
        if "lost" in payload:
            node = int(payload["lost"])
            if node == self.node:
                self._resync(None)
            else:
                log.warning("node %d is lost; its users left", node)
                self.local(hub.departed(directory.sessions_of(node), LeaveReason.NODE_LOST))
        for id in payload.get("ghost", ()):
            session = hub.session(int(id)) if self._here(int(id)) else None
            if session is not None and session.state is State.CHATTING:
                self(self._ghosted(session))
        if mine:
            self._deliveries(payload)
            return
        if "bye" in payload:
            self.local(hub.departed(directory.sessions_of(origin), LeaveReason.SHUTDOWN))
        if "sync" in payload:
            self._synced(origin, [load(SessionState, s) for s in payload["sync"]])
        for raw in payload.get("s", ()):
            state = load(SessionState, raw)
            if node_of(state.id) == origin:
                _, old_key = directory.upsert(state)
                if old_key is not None:
                    hub.renamed_elsewhere(old_key, state.key, state.name)
        for id in (*payload.get("g", ()), *payload.get("x", ())):
            self._gone(int(id))
        for room, topic in payload.get("t", {}).items():
            directory.apply_topic(room, topic)
        for op in payload.get("k", ()):
            self._kept_change(op)
        self._deliveries(payload)

    def _gone(self, id: int) -> None:
        if self._here(id):  # removed by another node: kicked, banned, a ghost
            session = self._hub.session(id)
            if session is not None and session.state is State.CHATTING:
                self._hub.drop(session)
            return
        session = self._cluster.remote(id)
        if session is not None:
            session.state = State.GONE
            self._cluster.remove(session)

    def _deliveries(self, payload: dict[str, Any]) -> None:
        hub = self._hub
        for raw_events, raw_target, sender in payload.get("e", ()):
            events = [load_event(e) for e in raw_events]
            to = load_target(raw_target)
            if type(to) is ToRoom:
                first = events[0]
                name = (
                    first.record.sender
                    if isinstance(first, Said)
                    else first.sender
                    if isinstance(first, Tagged)
                    else None
                )
                if name is not None:
                    ignorers = hub.ignorers_of(name_key(name))
                    if ignorers:
                        to = ToRoom(to.room, to.exclude, to.skip | ignorers)
                for event in events:
                    if type(event) is Said:
                        hub.history.add(event.record)
            elif isinstance(to, ToSession | ToSessions):
                ids = (to.id,) if isinstance(to, ToSession) else to.ids
                here = tuple(
                    id for id in ids if self._here(id) and self._accepts(id, events, sender)
                )
                if not here:
                    continue
                to = ToSessions(here)
            Dispatcher.deliver(self, events, to)
        for id in payload.get("c", ()):
            if self._here(id):
                peer = self._peers.get(id)
                if peer is not None:
                    peer.finish()

    def _accepts(self, id: int, events: list[Event], sender: int) -> bool:
        """A private message to a session here: not if it ignores the sender."""
        private = events[0]
        if type(private) is Tagged:
            return id not in self._hub.ignorers_of(name_key(private.sender))
        if type(private) is not Private:
            return True
        session = self._hub.session(id)
        if session is None or session.state is not State.CHATTING:
            return False
        return self._hub.private_arrived(session, sender, name_key(private.sender), private.sender)

    def _kept_change(self, op: list[Any]) -> None:
        kind, data = op
        hub = self._hub
        if kind == "account":
            hub.account_saved(load(Account, data))
        elif kind == "drop-account":
            hub.account_dropped(str(data))
        elif kind == "ban":
            self(hub.ban_saved(load(Ban, data)))
        elif kind == "drop-ban":
            hub.ban_dropped(load(Ban, data))
        elif kind == "mute":
            hub.mute_saved(load(Mute, data))
        elif kind == "drop-mute":
            hub.mute_dropped(str(data))
        else:
            raise BadEntry(f"unknown change {kind!r}")

    def _synced(self, origin: int, states: list[SessionState]) -> None:
        """Another node says who it has, all of it (after it was cut off)."""
        listed = {state.id for state in states}
        gone = [s for s in self._cluster.sessions_of(origin) if s.id not in listed]
        self.local(self._hub.departed(gone, LeaveReason.CLOSED))
        arrived: list[Effect] = []
        for state in states:
            if node_of(state.id) != origin:
                continue
            known = self._cluster.remote(state.id) is not None
            session, _ = self._cluster.upsert(state)
            if not known:
                for key, shown in state.rooms:
                    count = self._cluster.head_count(key)
                    arrived.append(Delivery(Joined(session.name, count, room=shown), ToRoom(key)))
        self.local(arrived)

    def local(self, effects: list[Effect]) -> None:
        """Effects for this node's sessions only (nothing is published)."""
        for effect in effects:
            if isinstance(effect, Delivery):
                Dispatcher.deliver(self, (effect.event,), effect.to)
            elif isinstance(effect, Close):
                peer = self._peers.get(effect.session)
                if peer is not None:
                    peer.finish()

    def failed(self, entries: list[Outgoing]) -> None:
        """Entries that could not be written: their sender is told, once per message;
        changes to accounts, bans and mutes (made here already) are sent again once
        Redis is back."""
        for entry in entries:
            if entry.kept and len(self._unsent) < MAX_UNSENT:
                self._unsent.append((entry.payload.get("k", []), entry.kept))
            sender = next(iter(entry.senders), 0) if len(entry.senders) == 1 else 0
            if not sender or self._hub.session(sender) is None:
                continue
            deliveries = entry.payload.get("e", ())
            lost = sum(e[0] in MESSAGES for events, *_ in deliveries for e in events)
            refused = Error(ErrorCode.DEGRADED, NOT_SENT)
            Dispatcher.deliver(self, (refused,) * max(1, lost), ToSession(sender))

    def down(self) -> None:
        self._hub.degraded = True
        self.local([Delivery(Notice(DOWN), ToEveryone())])

    def up(self, snapshot: Snapshot | None, was_lost: bool) -> None:
        self._hub.degraded = False
        self._resync(snapshot)
        unsent, self._unsent = self._unsent, []
        for ops, writes in unsent:
            if not self._link.publish(Outgoing({"k": ops}, kept=writes)):
                self._unsent.append((ops, writes))
        self.local([Delivery(Notice(BACK), ToEveryone())])

    def forgotten(self) -> None:
        self._resync(None)

    def _resync(self, snapshot: Snapshot | None) -> None:
        """After a cut: tell the others who is here (all of it), claim the names
        again, and (after a gap in the log) take the others' state from a snapshot."""
        if snapshot is not None:
            self.reload(snapshot)
        mine = [self._cluster.state_of(s) for s in self._hub.named()]
        self._publish(sync=mine)
        if self._reclaiming:
            return
        self._reclaiming = True
        task = asyncio.get_running_loop().create_task(self._reclaim())
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    async def _reclaim(self) -> None:
        def still(id: int, name: Name) -> bool:
            session = self._hub.session(id)
            return (
                session is not None and session.state is State.CHATTING and session.key == name.key
            )

        try:
            lost = await self._link.reclaim(still)
        except Unreachable:
            return
        finally:
            self._reclaiming = False
        self.names_lost(lost)

    def reload(self, snapshot: Snapshot) -> None:
        """Others' sessions and topics as a snapshot has them."""
        listed = {state.id for state in snapshot.states}
        for node in self._cluster.nodes():
            if node not in snapshot.alive:  # it died while this node was not reading
                gone = self._cluster.sessions_of(node)
                self.local(self._hub.departed(gone, LeaveReason.NODE_LOST))
            elif node in snapshot.nodes:  # (one without its list yet will send a sync)
                gone = [s for s in self._cluster.sessions_of(node) if s.id not in listed]
                self.local(self._hub.departed(gone, LeaveReason.CLOSED))
        for state in snapshot.states:
            self._cluster.upsert(state)
        for room, topic in snapshot.topics.items():
            self._cluster.apply_topic(room, topic)
        self(self._hub.kept_reloaded(snapshot.accounts, snapshot.bans, snapshot.mutes))
        for ops, _ in self._unsent:  # this node's own changes not yet written go on top
            for op in ops:
                self._kept_change(op)

    def names_lost(self, ids: list[int]) -> None:
        """Sessions here whose names Redis gave to others while this node was away."""
        for id in ids:
            session = self._hub.session(id)
            if session is None or session.state is not State.CHATTING:
                continue
            to = ToSession(id)
            self(
                [
                    Delivery(Error(ErrorCode.NAME_TAKEN, NAME_LOST), to),
                    *self._hub.leave(session, LeaveReason.CLOSED),
                    Close(id),
                ]
            )

    def goodbye(self) -> None:
        """This node shuts down: the others tell their users who left."""
        self._link.publish(Outgoing({"bye": self.node}))
