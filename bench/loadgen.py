"""The load generator: many clients in one process on uvloop Protocols.

Cheap per byte: public lines are counted by looking for `\\n<`, and only a
sample of clients parse the send timestamps carried in the text.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

HOST = "127.0.0.1"
_SOURCES = itertools.count()


@dataclass(frozen=True)
class Dialect:
    """How a client of one protocol registers, sends a public line and spots one."""

    hello: Callable[[bytes], bytes]
    registered: bytes
    said: bytes
    """What starts a public line as received."""
    say: bytes
    """What starts a public line as sent."""
    end: bytes


LINE = Dialect(lambda name: name + b"\n", b"*** Hello ", b"<", b"", b"\n")
IRC = Dialect(
    lambda name: b"NICK %s\r\nUSER %s 0 * :%s\r\nJOIN #lobby\r\n" % (name, name, name),
    b" 366 ",
    b"PRIVMSG #lobby :",
    b"PRIVMSG #lobby :",
    b"\r\n",
)


def _websocket_hello(name: bytes) -> bytes:
    """An upgrade request, then the name as a client frame (masked, with a zero key,
    so the payload reads as it is): one write, as a browser could not, but valid."""
    request = (
        b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    payload = b'{"type":"name","name":"%s"}' % name
    assert len(payload) < 126
    return request + bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


WEB = Dialect(_websocket_hello, b'"type":"hello"', b'"type":"message"', b"", b"")
"""WebSocket receivers: server frames are unmasked JSON, counted by their type."""


class BenchClient(asyncio.Protocol):
    """One chat client that registers, counts public lines, and maybe samples latency."""

    def __init__(
        self, name: str, expect: int, sample: list[int] | None, dialect: Dialect = LINE
    ) -> None:
        self.dialect = dialect
        self.tail = b""
        self.name = name.encode()
        self.expect = expect
        self.sample = sample
        self.count = 0
        self.bytes = 0
        self.at_line_start = True
        self.greeting = b""
        self.registered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_data = time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.dialect.hello(self.name))

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        self.last_data = time.perf_counter()
        if not self.registered.done():
            self.greeting += data
            at = self.greeting.find(self.dialect.registered)
            # A line ends at its LF; for a WebSocket, nothing counted can follow the hello yet.
            end = (
                self.greeting.find(b"\n", at) + 1 if self.dialect is not WEB else len(self.greeting)
            )
            if at < 0 or end <= 0:
                return
            data = self.greeting[end:]
            self.greeting = b""
            self.registered.set_result(None)
            if not data:
                return
        if self.dialect is not LINE:
            self._count_irc(data)
            return
        starts_a_line = self.at_line_start
        count = data.count(b"\n<")
        if starts_a_line and data[:1] == b"<":
            count += 1
        self.at_line_start = data.endswith(b"\n")
        self.count += count
        if self.sample is not None and count:
            self._sample(data, starts_a_line)
        if self.count >= self.expect > 0 and not self.done.done():
            self.done.set_result(time.perf_counter())

    def _count_irc(self, data: bytes) -> None:
        """Count public lines by their marker, which a read may split."""
        marker = self.dialect.said
        joined = self.tail + data
        count = joined.count(marker)
        self.tail = joined[-(len(marker) - 1) :]
        if self.tail.count(marker):
            count -= 1
        self.count += count
        if self.sample is not None and count and self.dialect is WEB:
            self._sample_web(data)
        if self.count >= self.expect > 0 and not self.done.done():
            self.done.set_result(time.perf_counter())

    def _sample_web(self, data: bytes) -> None:
        """Latency of each message whose send time is whole in `data`."""
        assert self.sample is not None
        now = time.perf_counter_ns()
        at = data.find(b'"text":"t=')
        while at >= 0:
            start = at + 10
            end = data.find(b" ", start)
            if end < 0:
                return
            stamp = data[start:end]
            if stamp.isdigit():
                self.sample.append(now - int(stamp))
            at = data.find(b'"text":"t=', end)

    def _sample(self, data: bytes, starts_a_line: bool) -> None:
        """Latency of each whole public line in `data` (pieces of lines are skipped)."""
        assert self.sample is not None
        now = time.perf_counter_ns()
        lines = data.split(b"\n")
        lines.pop()
        if not starts_a_line and lines:
            lines.pop(0)
        for line in lines:
            at = line.find(b"> t=")
            if line[:1] == b"<" and at > 0:
                stamp = line[at + 4 : line.find(b" ", at + 4)]
                if stamp.isdigit():
                    self.sample.append(now - int(stamp))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.registered.done():  # refused or cut: fail now, not after open_client's 600 s
            why = f": {exc}" if exc else ""
            self.registered.set_exception(
                ConnectionError(f"{self.name!r} closed unregistered{why}")
            )

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_client(
    port: int,
    name: str,
    expect: int = 0,
    sample: list[int] | None = None,
    dialect: Dialect = LINE,
) -> BenchClient:
    loop = asyncio.get_running_loop()
    # IRC servers throttle connections per address: each IRC client comes from its own.
    n = next(_SOURCES)
    source = (f"127.1.{n // 250 % 250}.{n % 250 + 1}", 0)
    _, client = await loop.create_connection(
        lambda: BenchClient(name, expect, sample, dialect),
        HOST,
        port,
        local_addr=source if dialect is IRC else None,
    )
    await asyncio.wait_for(client.registered, 600)
    return client


async def open_many(
    port: int,
    make: list[Callable[[], tuple[str, int, list[int] | None]]],
    dialect: Dialect = LINE,
    at_once: int = 200,
) -> list[BenchClient]:
    """Open clients 200 (`at_once`) at a time (the listen backlog stays small); IRC
    clients 8 at a time (ngIRCd accepts a few a second and drops connects beyond its
    backlog)."""
    limit = asyncio.Semaphore(8 if dialect is IRC else at_once)

    async def one(spec: Callable[[], tuple[str, int, list[int] | None]]) -> BenchClient:
        async with limit:
            name, expect, sample = spec()
            return await open_client(port, name, expect, sample, dialect)

    return list(await asyncio.gather(*(one(spec) for spec in make)))


async def settle(clients: list[BenchClient], quiet: float = 0.3, limit: float = 60) -> None:
    """Wait until no client has received anything for `quiet` seconds (join storms end)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        last = max(c.last_data for c in clients)
        if time.perf_counter() - last >= quiet:
            return
        await asyncio.sleep(quiet / 3)


def percentile(values: list[int], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


@dataclass
class CpuMeter:
    """The generator's own CPU use, as a share of one core."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)

    def share(self) -> float:
        return (time.process_time() - self.cpu) / max(1e-9, time.perf_counter() - self.wall)


def line(now_ns: int, seq: int, dialect: Dialect = LINE) -> bytes:
    text = b"t=%d %d the quick brown fox jumps over the lazy dog" % (now_ns, seq)
    return dialect.say + text + dialect.end


async def fanout(
    port: int,
    receivers: int,
    senders: int,
    lines: int,
    rate: float = 0.0,
    patience: float = 120,
    dialect: Dialect = LINE,
    receivers_at: tuple[int, Dialect] | list[tuple[int, Dialect]] | None = None,
    mark: Callable[[str], None] | None = None,
    at_once: int = 200,
) -> dict[str, float]:
    """S senders say M lines each to a room of R receivers (and each other).

    `receivers_at`: the receivers use another port and protocol (the web's), or a
    list of them, taken in turn (receiver i at place i % n: the nodes of a cluster);
    the senders stay at `port`. With several places the sampled receivers are spread
    over them too, and each place's p99 is reported as `p99_ms_at<k>`.
    `mark("start")` is called once the room is quiet, just before the first line
    is sent, and `mark("end")` when every line arrived (or patience ran out).
    `at_once`: how many clients connect and register at a time."""
    places = [receivers_at] if isinstance(receivers_at, tuple) else receivers_at or []
    per_receiver = senders * lines
    per_sender = (senders - 1) * lines
    spread = max(1, len(places))
    samples: list[int] = []
    sampled_at: list[list[int]] = [[] for _ in range(spread)]
    step = max(1, receivers // 10)
    # About every step-th receiver, the k-th moved to place k % spread so the sample
    # covers every place alike (with one place: every step-th, as always).
    sampled = {
        min(receivers - 1, i - i % spread + k % spread)
        for k, i in enumerate(range(0, receivers, step))
    }

    def receiver(i: int) -> Callable[[], tuple[str, int, list[int] | None]]:
        return lambda: (f"r{i}", per_receiver, sampled_at[i % spread] if i in sampled else None)

    def sender(i: int) -> Callable[[], tuple[str, int, list[int] | None]]:
        return lambda: (f"s{i}", per_sender, None)

    receiving = [receiver(i) for i in range(receivers)]
    sending = [sender(i) for i in range(senders)]
    if not places:
        clients = await open_many(port, receiving + sending, dialect, at_once)
    else:
        clients = []
        for k, (at_port, at_dialect) in enumerate(places):
            clients += await open_many(at_port, receiving[k::spread], at_dialect, at_once)
        clients += await open_many(port, sending, dialect, at_once)
    try:
        await settle(clients)
        for client in clients:
            client.count = 0
        talkers = clients[receivers:]
        if mark is not None:
            mark("start")
        meter = CpuMeter()
        started = time.perf_counter()
        if rate <= 0:
            for talker in talkers:
                now = time.perf_counter_ns()
                talker.send(b"".join(line(now, i, dialect) for i in range(lines)))
        else:
            gap = 1 / (rate * len(talkers))
            await asyncio.gather(*(_paced(t, lines, rate, i * gap) for i, t in enumerate(talkers)))
        waiting = [c.done for c in clients if c.expect > 0]
        await asyncio.wait(waiting, timeout=patience)
        if mark is not None:
            mark("end")
        finished = max((f.result() for f in waiting if f.done()), default=time.perf_counter())
        elapsed = finished - started
        expected = senders * lines * (receivers + senders - 1)
        received = sum(c.count for c in clients)
        for place in sampled_at:
            samples += place
        result = {
            "deliveries_per_s": received / elapsed,
            "seconds": elapsed,
            "expected": expected,
            "loss": expected - received,
            "p50_ms": percentile(samples, 0.50),
            "p99_ms": percentile(samples, 0.99),
            "max_ms": percentile(samples, 1.0),
            "loadgen_cpu": meter.share(),
        }
        if len(places) > 1:
            for k, place in enumerate(sampled_at):
                result[f"p99_ms_at{k}"] = percentile(place, 0.99)
        return result
    finally:
        for client in clients:
            client.close()


async def _paced(talker: BenchClient, lines: int, rate: float, offset: float) -> None:
    """Send at `rate` lines/s; senders are offset so their lines arrive evenly spread."""
    loop = asyncio.get_running_loop()
    start = loop.time() + offset
    await asyncio.sleep(offset)
    for i in range(lines):
        talker.send(line(time.perf_counter_ns(), i))
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - loop.time()))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for row in status:
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
    raise RuntimeError("no VmRSS")


async def conns(port: int, server_pid: int, count: int, rate: float) -> dict[str, float]:
    """Open `count` idle registered clients at `rate` per second."""
    before = rss_kb(server_pid)
    meter = CpuMeter()
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - loop.time()))
        tasks.append(asyncio.create_task(open_client(port, f"c{i}")))
    clients = await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    try:
        await settle(clients)
        after = rss_kb(server_pid)
        return {
            "connects_per_s": count / elapsed,
            "seconds": elapsed,
            "rss_kb_per_client": (after - before) / count,
            "loadgen_cpu": meter.share(),
        }
    finally:
        for client in clients:
            client.close()


def pin_self(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
