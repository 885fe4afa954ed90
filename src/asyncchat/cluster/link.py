"""This node's link to Redis: the log it writes and reads, names, heartbeats,
and what happens when Redis cannot be reached.

The asyncio part of the cluster. One writer task sends what the node
publishes, in order, a batch per MULTI/EXEC; one reader task reads the
log (every node's entries, this one's too) and hands them over in log
order; a heartbeat keeps the node and its names alive and announces nodes
that stopped beating. Any failure puts the link down: the node is told
(it refuses what needs the others), and a reconnect loop with backoff
brings it back, re-reading the log from where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncchat.cluster import scripts
from asyncchat.cluster.codec import (
    BadEntry,
    dump_record,
    dump_state,
    load_account,
    load_ban,
    load_mute,
    load_record,
    load_state,
)
from asyncchat.cluster.directory import NODE_SHIFT, SessionState
from asyncchat.core.accounts import Account
from asyncchat.core.events import Record
from asyncchat.core.moderation import Ban, Mute
from asyncchat.core.names import Name

try:
    from redis import asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - the extra is not installed
    aioredis = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

PREFIX = "asyncchat"
NODE_BITS = 52 - NODE_SHIFT
"""Node numbers are random below 2**NODE_BITS, so ids stay exact as JSON numbers."""
HEARTBEAT = 2.0
"""Seconds between a node's beats."""
TTL = 8.0
"""Seconds a node's liveness key and its names live without a beat: a dead node's
users are announced lost within TTL + HEARTBEAT, and its names are free after TTL."""
LOG_LENGTH = 100_000
"""Entries the log keeps (about): a node cut off longer than that re-reads a snapshot."""
READ_COUNT = 1000
BACKOFF_FIRST = 0.1
BACKOFF_MOST = 5.0
MAX_QUEUED = 10_000
"""Entries waiting to be written: past it, what a user does is refused as degraded."""
BATCH = 500
CONNECTIONS = 64
"""Connections to Redis at most: the reader's, the writer's, the heartbeat's, claims'."""
CLAIMS = 48
"""Name claims and releases in flight at once; more wait for one to finish."""
COMMAND_TIMEOUT = 5.0


class Unreachable(Exception):
    """Redis cannot be reached now."""


@dataclass(slots=True)
class Outgoing:
    """One log entry and the writes that go with it, in one transaction."""

    payload: dict[str, Any]
    states: list[SessionState] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    topics: dict[str, str | None] = field(default_factory=dict)
    history: list[Record] = field(default_factory=list)
    kept: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(hash, field, value): a value of None deletes the field."""
    release: list[tuple[str, str]] = field(default_factory=list)
    """(name key, the claim's value) given up after the entry (see `Link.forget`)."""
    senders: tuple[int, ...] = ()
    """This node's sessions to tell if it cannot be written."""
    replace: bool = False
    """`states` are all of this node's sessions (a sync): the others are dropped."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim's answer: `holder` the name that holds it or looks like it (refused),
    else `displaced` the session a forced claim took it from, if any."""

    holder: str | None = None
    displaced: int | None = None


@dataclass(slots=True)
class Snapshot:
    """The cluster as of log position `last_id` (sequence number `seq`)."""

    last_id: str
    seq: int
    alive: set[int]
    """The other nodes alive."""
    nodes: set[int]
    """Those whose sessions are all in `states` (the others have yet to say)."""
    states: list[SessionState]
    topics: dict[str, str]
    accounts: list[Account]
    bans: list[Ban]
    mutes: list[Mute]
    history: list[Record]


@dataclass(slots=True)
class Handlers:
    """What the node does when the link has news."""

    entries: Callable[[list[tuple[int, dict[str, Any]]]], None]
    failed: Callable[[list[Outgoing]], None]
    down: Callable[[], None]
    up: Callable[[Snapshot | None, bool], None]
    """(a snapshot if the log had a gap, whether others had declared this node lost)."""
    reload: Callable[[Snapshot], None]
    forgotten: Callable[[], None]
    """Redis no longer knew this node (its data was lost, or others declared it lost)."""
    names_lost: Callable[[list[int]], None]


def name_keys(name: Name) -> list[str]:
    return [f"{PREFIX}:name:{name.key}", f"{PREFIX}:look:{name.skeleton}"]


class Link:
    """A node's connection to Redis (see the module docstring)."""

    def __init__(self, url: str, *, rooms: int, lines: int, keep: int, most: int) -> None:
        """`rooms` and `lines`: how much history a starting node reads; `keep`:
        lines a room's history stream keeps (--history-keep); `most`: lines kept
        in all (--history-max-rows), by keeping the most recently active rooms'."""
        if aioredis is None:
            raise RuntimeError("--redis needs the redis package: pip install 'asyncchat[cluster]'")
        self.url = url
        self.node = 0
        self.up = False
        self._rooms, self._lines, self._keep = rooms, lines, keep
        self._history_rooms = max(1, most // keep)
        self._redis = aioredis.from_url(
            url,
            max_connections=CONNECTIONS,
            socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        # A burst of claims waits its turn here rather than exhaust the pool (a
        # blocking pool would make every command of the hot path wait on a condition).
        self._claiming = asyncio.Semaphore(CLAIMS)
        self._claim = self._redis.register_script(scripts.CLAIM)
        self._release = self._redis.register_script(scripts.RELEASE)
        self._beat = self._redis.register_script(scripts.BEAT)
        self._reap = self._redis.register_script(scripts.REAP)
        self._snapshot = self._redis.register_script(scripts.SNAPSHOT)
        self._append = self._redis.register_script(scripts.APPEND)
        self._queue: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_id = "0-0"
        self._read_seq = 0
        self._handlers: Handlers | None = None
        self._recovering: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._seq = 0
        self._held: dict[str, str] = {}
        """Name key → the value of this node's claim on it: what Redis should hold."""
        self._claims_made = 0
        self._epoch = 0
        self._uncertain: list[Outgoing] = []
        """The batch in flight when Redis failed: written or not, the log will say."""
        self._sent_after = "0-0"
        """The last log id read when that batch was sent: it can only be after it."""

    def _key(self, kind: str, node: int | None = None) -> str:
        return f"{PREFIX}:{kind}:{self.node if node is None else node}"

    async def open(self) -> Snapshot:
        """Join the cluster: a node number, liveness, and the cluster as it is."""
        try:
            while True:  # random, so even a Redis that lost its data hands out no live one
                self.node = random.randrange(1, 1 << NODE_BITS)
                if await self._redis.set(self._key("node"), "1", nx=True, px=int(TTL * 1000)):
                    break
            await self._beat(
                keys=self._beat_keys(), args=[int(TTL * 1000), self.node], client=self._redis
            )
            snapshot = await self.snapshot()
        except (RedisError, OSError) as problem:
            await self._redis.aclose()
            raise Unreachable(f"cannot reach Redis at {self.url}: {problem}") from None
        self.up = True
        log.info("node %d of the cluster at %s", self.node, self.url)
        return snapshot

    def start(self, handlers: Handlers, snapshot: Snapshot) -> None:
        self._handlers = handlers
        self._last_id, self._read_seq = snapshot.last_id, snapshot.seq
        self._run_tasks()
        self._spawn(self._heartbeat())

    def _run_tasks(self) -> None:
        """A reader and a writer: one of each, ever (an old reader may still block)."""
        if self._reader is not None:
            self._reader.cancel()
        self._reader = self._spawn(self._read())
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write())

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _beat_keys(self) -> list[str]:
        return [
            self._key("node"),
            self._key("held"),
            self._key("lost"),
            f"{PREFIX}:nodes",
        ]

    async def snapshot(self) -> Snapshot:
        keys = [f"{PREFIX}:{k}" for k in ("nodes", "log", "topics", "accounts", "bans", "mutes")]
        keys += [f"{PREFIX}:rooms", f"{PREFIX}:log-seq"]
        args: list[str | int] = [PREFIX, self.node, self._rooms, self._lines]
        found = await self._snapshot(keys=keys, args=args, client=self._redis)
        last, states, topics, accounts, bans, mutes, history, seq, alive, listed = found
        pairs = iter(topics)
        return Snapshot(
            last.decode(),
            int(seq),
            {int(node) for node in alive},
            {int(node) for node in listed},
            _each(load_state, states),
            {key.decode(): value.decode() for key, value in zip(pairs, pairs, strict=True)},
            _each(load_account, accounts),
            _each(load_ban, bans),
            _each(load_mute, mutes),
            _each(load_record, history),
        )

    async def claim(self, id: int, name: Name, force: bool) -> Claimed:
        """Claim a name for session `id` (`force`: from whoever holds it). Raises
        Unreachable. The claim counts as this node's from before it is sent, so a
        reclaim running meanwhile does not give it up."""
        self._claims_made += 1
        value = f"{id} {self._claims_made} {name.display}"
        keys = name_keys(name)
        # Not over another session's claim: Redis will refuse this one (or, forced,
        # take it: then it is this one's from the answer on).
        before = {
            key: old
            for key in keys
            if (old := self._held.get(key)) is None or old.startswith(f"{id} ")
        }
        self._held.update(dict.fromkeys(before, value))
        try:
            async with self._claiming:
                if not self.up:
                    raise Unreachable
                status, info = await self._claim(
                    keys=[*keys, self._key("held")],
                    args=[value, f"{id} ", int(TTL * 1000), int(force)],
                    client=self._redis,
                )
        except (RedisError, OSError) as problem:
            self._restore(before, value)
            self._fail(problem)
            raise Unreachable from None
        except Unreachable:
            self._restore(before, value)
            raise
        if status == b"taken":
            self._restore(before, value)
            return Claimed(holder=info.decode())
        self._held.update(dict.fromkeys(keys, value))
        return Claimed(displaced=int(info) if info else None)

    def _restore(self, before: dict[str, str | None], value: str) -> None:
        for key, old in before.items():
            if self._held.get(key) == value:
                if old is None:
                    del self._held[key]
                else:
                    self._held[key] = old

    def forget(self, keys: list[str]) -> list[tuple[str, str]]:
        """Keys this node gives up (a session left or changed names): each with the
        claim it held, to release by that value."""
        return [(key, value) for key in keys if (value := self._held.pop(key, None))]

    async def release(self, pairs: list[tuple[str, str]]) -> None:
        """Give names up now (a claim that was not used). A failure puts the link
        down: the reconnect gives up whatever this node holds for no one."""
        if not pairs:
            return
        try:
            async with self._claiming:
                await self._release(
                    keys=[self._key("held")],
                    args=[part for pair in pairs for part in pair],
                    client=self._redis,
                )
        except (RedisError, OSError) as problem:
            self._fail(problem)

    async def reclaim(self, still: Callable[[int, Name], bool]) -> list[int]:
        """After a cut: make Redis hold exactly what this node holds. Keys Redis has
        for this node that it no longer claims are given up; claims Redis lost are
        made again (`still(id, name)`: is the session still named so); returns the
        sessions whose names others took meanwhile."""
        try:
            held: Any = await self._redis.hgetall(self._key("held"))
        except (RedisError, OSError) as problem:
            self._fail(problem)
            raise Unreachable from None
        stray = []
        for raw_key, raw_value in held.items():
            key, value = bytes(raw_key).decode(), bytes(raw_value).decode()
            if self._held.get(key) != value:
                stray.append((key, value))
        await self.release(stray)
        missing = {
            int(value.partition(" ")[0])
            for key, value in self._held.items()
            if held.get(key.encode()) != value.encode()
        }
        lost = []
        for id in missing:
            name = next(iter(self._names_of(id)), None)
            if name is None or not still(id, name):
                continue
            if (await self.claim(id, name, False)).holder is not None:
                lost.append(id)
            elif not still(id, name):  # it left or renamed during the claim
                await self.release(self.forget(name_keys(name)))
        return lost

    def _names_of(self, id: int) -> list[Name]:
        """The name session `id` holds here, from its claims' values."""
        prefix = f"{id} "
        for key, value in self._held.items():
            if value.startswith(prefix) and key.startswith(f"{PREFIX}:name:"):
                return [Name(value.split(" ", 2)[2], key.removeprefix(f"{PREFIX}:name:"))]
        return []

    def publish(self, entry: Outgoing) -> bool:
        """Queue an entry; False if it cannot be: the link is down, or Redis is so far
        behind that the link is put down (the node resyncs when it comes back)."""
        if self.up and len(self._queue) >= MAX_QUEUED:
            self._fail(RuntimeError(f"{MAX_QUEUED} entries waiting to be written"))
        if not self.up:
            return False
        self._seq += 1
        entry.payload["q"] = self._seq
        self._queue.append(entry)
        self._wake.set()
        return True

    async def _write(self) -> None:
        epoch = self._epoch
        while not self._closing or self._queue:
            if not self.up:
                return
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            self._sent_after = self._last_id
            try:
                await self._send(batch)
            except (RedisError, OSError) as problem:
                if epoch != self._epoch and self.up:  # it was cut and came back meanwhile
                    if self._handlers is not None:
                        self._handlers.failed(batch)
                    return
                failed = list(self._queue)  # never sent
                self._queue.clear()
                self._uncertain = batch
                self._fail(problem)
                if self._handlers is not None and failed:
                    self._handlers.failed(failed)
                return

    async def _send(self, batch: list[Outgoing]) -> None:
        node = str(self.node)
        async with self._redis.pipeline(transaction=True) as pipe:
            sessions = self._key("sessions")
            for entry in batch:
                if entry.replace:
                    pipe.delete(sessions)
                for state in entry.states:
                    pipe.hset(sessions, str(state.id), dump_state(state))
                if entry.gone:
                    pipe.hdel(sessions, *(str(id) for id in entry.gone))
                for room, topic in entry.topics.items():
                    if topic is None:
                        pipe.hdel(f"{PREFIX}:topics", room)
                    else:
                        pipe.hset(f"{PREFIX}:topics", room, topic)
                for table, key, value in entry.kept:
                    if value is None:
                        pipe.hdel(f"{PREFIX}:{table}", key)
                    else:
                        pipe.hset(f"{PREFIX}:{table}", key, value)
                data = json.dumps(entry.payload, ensure_ascii=False, separators=(",", ":"))
                lines: list[str | float] = []
                for record in entry.history:  # written by the same script as the entry
                    lines += (record.room, record.time, dump_record(record))
                await self._append(
                    keys=[f"{PREFIX}:log", f"{PREFIX}:log-seq", f"{PREFIX}:rooms"],
                    args=[LOG_LENGTH, node, data, PREFIX, self._keep, self._history_rooms, *lines],
                    client=pipe,
                )
                if entry.release:
                    await self._release(
                        keys=[self._key("held")],
                        args=[part for pair in entry.release for part in pair],
                        client=pipe,
                    )
            await pipe.execute()

    async def _read(self) -> None:
        stream = f"{PREFIX}:log"
        while self.up and not self._closing:
            try:
                found: Any = await self._redis.xread(
                    {stream: self._last_id}, count=READ_COUNT, block=int(HEARTBEAT * 500)
                )
            except (RedisError, OSError) as problem:
                self._fail(problem)
                return
            if not found:
                continue
            entries = []
            gap = False
            for id, fields in found[0][1]:
                try:
                    seq = int(fields[b"n"])
                    entry = (int(fields[b"o"]), json.loads(fields[b"d"]))
                except (KeyError, ValueError):
                    log.warning("skipped log entry %s: not one of ours", id.decode())
                    self._last_id = id.decode()
                    continue
                if seq != self._read_seq + 1:
                    gap = True
                    break
                self._last_id, self._read_seq = id.decode(), seq
                entries.append(entry)
            if entries and self._handlers is not None:
                try:
                    self._handlers.entries(entries)
                except Exception:  # a bug there must not stop the reading
                    log.exception("could not apply entries up to %s", self._last_id)
            if gap:
                try:
                    await self._reload(f"entries {self._read_seq + 1}.. were trimmed unread")
                except (RedisError, OSError) as problem:
                    self._fail(problem)
                    return
                except Exception:
                    log.exception("could not reload after a gap")

    async def _heartbeat(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT)  # the beat's period, not a synchronisation
            if not self.up:
                continue
            try:
                if await self._beat_once() and self._handlers is not None:
                    log.warning("Redis had forgotten this node; telling the others who is here")
                    self._handlers.forgotten()
                await self._reap(
                    keys=[f"{PREFIX}:nodes", f"{PREFIX}:log", f"{PREFIX}:log-seq"],
                    args=[PREFIX, LOG_LENGTH],
                    client=self._redis,
                )
            except (RedisError, OSError) as problem:
                self._fail(problem)
            except Exception:  # the heartbeat must go on, or the node is declared lost
                log.exception("heartbeat")

    async def _beat_once(self) -> bool:
        """Beat now; True if this node had been declared lost or Redis forgot it."""
        lost, gone = await self._beat(
            keys=self._beat_keys(), args=[int(TTL * 1000), self.node], client=self._redis
        )
        if gone and self._handlers is not None:
            self._handlers.names_lost(sorted({int(id) for id in gone}))
        return bool(lost)

    def _fail(self, problem: BaseException) -> None:
        if not self.up or self._closing:
            return
        self.up = False
        self._epoch += 1
        self._wake.set()  # the writer sees it and ends
        log.warning("lost Redis at %s (%s); reconnecting", self.url, problem or type(problem))
        if self._handlers is not None:
            self._handlers.down()
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        wait = BACKOFF_FIRST
        while not self._closing:
            await asyncio.sleep(wait * random.uniform(0.5, 1.0))  # backoff, not a synchronisation
            wait = min(wait * 2, BACKOFF_MOST)
            try:
                # Pooled connections went with the old server: start afresh.
                await self._redis.connection_pool.disconnect()
                await self._redis.ping()
                was_lost = await self._beat_once()
                snapshot = await self._gap()
                lost = [] if await self._written(self._uncertain) else self._uncertain
            except (RedisError, OSError) as problem:
                log.debug("Redis still unreachable: %s", problem)
                continue
            if snapshot is not None:
                self._last_id, self._read_seq = snapshot.last_id, snapshot.seq
            self._uncertain = []
            if lost and self._handlers is not None:
                self._handlers.failed(lost)
            self.up = True
            log.warning("Redis at %s is back", self.url)
            self._run_tasks()
            if self._handlers is not None:
                try:
                    self._handlers.up(snapshot, was_lost)
                except Exception:
                    log.exception("after reconnecting")
            return

    async def _written(self, batch: list[Outgoing]) -> bool:
        """Whether a batch whose answer was lost is in the log (a MULTI: all or none)."""
        if not batch:
            return True
        wanted = batch[0].payload["q"]
        start = "(" + self._sent_after
        while True:
            found: Any = await self._redis.xrange(f"{PREFIX}:log", start, "+", count=READ_COUNT)
            for id, fields in found:
                if fields.get(b"o") == str(self.node).encode():
                    with contextlib.suppress(KeyError, ValueError):
                        if json.loads(fields[b"d"]).get("q") == wanted:
                            return True
                start = "(" + id.decode()
            if len(found) < READ_COUNT:
                return False

    async def _gap(self) -> Snapshot | None:
        """A snapshot if entries after the last one read are gone (trimmed, or Redis
        lost its data): the next entry's sequence number tells."""
        found: Any = await self._redis.xrange(f"{PREFIX}:log", "(" + self._last_id, "+", count=1)
        if found:
            seq = int(found[0][1].get(b"n", 0))
        else:
            seq = int(await self._redis.get(f"{PREFIX}:log-seq") or 0) + 1
        if seq == self._read_seq + 1:
            return None
        log.warning("the log moved on past this node while it was away; reading a snapshot")
        return await self.snapshot()

    async def _reload(self, why: str) -> None:
        log.warning("%s; reading a snapshot", why)
        snapshot = await self.snapshot()
        self._last_id, self._read_seq = snapshot.last_id, snapshot.seq
        if self._handlers is not None:
            self._handlers.reload(snapshot)

    async def close(self, grace: float = 2.0) -> None:
        """Write what is queued (within `grace`), give up names and liveness, disconnect."""
        self._closing = True
        self._wake.set()
        if self._writer is not None and self.up:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(self._writer, return_exceptions=True)
        for task in [*self._tasks, self._recovering]:
            if task is not None:
                task.cancel()
        if self.up:
            with contextlib.suppress(RedisError, OSError):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.srem(f"{PREFIX}:nodes", str(self.node))
                    pipe.delete(self._key("node"), self._key("sessions"), self._key("held"))
                    await pipe.execute()
        await self._redis.aclose()


def _each(load: Callable[[bytes], Any], values: list[bytes]) -> list[Any]:
    found = []
    for value in values:
        try:
            found.append(load(value))
        except BadEntry as problem:
            log.warning("skipped a value from Redis: %s", problem)
    return found
