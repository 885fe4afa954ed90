"""Real loopback clients for integration tests: every wait has a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import trustme

from asyncchat.edge.server import ChatServer

TIMEOUT = 5.0
StartServer = Callable[..., Awaitable[ChatServer]]


T = TypeVar("T")


def issue(ca: trustme.CA, where: Path) -> str:
    """A certificate for 127.0.0.1 and its key, in one PEM file (usable as both flags)."""
    path = where / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(path)
    return str(path)


async def read_until(
    read: Callable[[float], Awaitable[T]], wanted: Callable[[T], bool], timeout: float
) -> list[T]:
    """Everything `read` gives up to and including the first that is wanted, within
    `timeout` in all (each test client's `until`)."""
    seen: list[T] = []

    async def collect() -> None:
        while not seen or not wanted(seen[-1]):
            seen.append(await read(timeout))

    await asyncio.wait_for(collect(), timeout)
    return seen


async def flood_until_cut(
    sender: Client, name: str, *, per_round: int, rounds: int, seconds: float
) -> int:
    """Long lines from `sender` into its room until it is told `name` left (too slow),
    each round confirmed by a pong (nothing else may arrive); the lines it took.
    Bounded by `rounds` of `per_round` 1 kB lines and by `seconds`."""
    left = f"*** {name} left (too slow)"
    payload = "x" * 1000
    sent = 0
    async with asyncio.timeout(seconds):
        for _ in range(rounds):
            sender.send(*(f"{sent + i} {payload}" for i in range(per_round)))
            sent += per_round
            pong = f"*** pong {sent}"
            sender.send(f"/ping {sent}")
            seen = await sender.until(pong.__eq__)
            assert set(seen) <= {pong, left}, seen
            if left in seen:
                return sent
    raise AssertionError(f"{name} not cut off after {sent} lines")


class Client:
    """A raw protocol client, like a netcat user with perfect reflexes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls, port: int, *, rcvbuf: int | None = None, source: str | None = None
    ) -> Client:
        """`source`: another loopback address to come from (127.0.0.2 is another user)."""
        if rcvbuf is None:
            local = (source, 0) if source is not None else None
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
            return cls(reader, writer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
        return cls(reader, writer)

    @classmethod
    async def join(cls, port: int, name: str, *, source: str | None = None) -> Client:
        """Connect and register; the welcome and hello are checked and consumed."""
        client = await cls.connect(port, source=source)
        assert await client.line() == "*** Welcome to asyncchat! What is your name?"
        client.send(name)
        hello = await client.line()
        assert hello.startswith(f"*** Hello {name}!"), hello
        return client

    def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\n" for line in lines).encode())

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def stop_reading(self) -> None:
        """Behave like a stuck client: leave everything in the kernel buffers."""
        transport = self.writer.transport
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()

    async def line(self, timeout: float = TIMEOUT) -> str:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        return raw[:-2].decode()

    async def lines(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        return [await self.line(timeout) for _ in range(count)]

    async def until(self, wanted: Callable[[str], bool], timeout: float = TIMEOUT) -> list[str]:
        """Every line up to and including the first one that is wanted."""
        return await read_until(self.line, wanted, timeout)

    async def quiet(self, token: str = "sync") -> None:
        """Prove nothing else is queued for us: the next line is our own pong."""
        self.send(f"/ping {token}")
        assert await self.line() == f"*** pong {token}"

    async def closed(self, timeout: float = TIMEOUT) -> bytes:
        """Whatever is left before the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def reset(self) -> None:
        """Vanish with a TCP reset (SO_LINGER 0), whatever is still unsent."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


class Daemon:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []

    async def log_until(self, pattern: str) -> re.Match[str]:
        assert self.process.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            while True:
                raw = await self.process.stderr.readline()
                assert raw, f"daemon exited before logging {pattern!r}: {self.log}"
                self.log.append(raw.decode())
                match = re.search(pattern, self.log[-1])
                if match:
                    return match

    async def port(self) -> int:
        """Wait until it listens; the port it chose."""
        return int((await self.log_until(LISTENING.pattern))[2])

    def rss(self) -> int:
        """The daemon's resident memory in bytes, from /proc."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert found is not None, status
        return int(found[1]) * 1024


@asynccontextmanager
async def daemon(*flags: str, env: dict[str, str] | None = None) -> AsyncIterator[Daemon]:
    """`asyncchat serve` on a free port; history in memory unless --db or env is given."""
    if "--db" not in flags and env is None:
        flags = ("--db", ":memory:", *flags)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncchat",
        "serve",
        "--port",
        "0",
        *flags,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        yield Daemon(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def spawn_join(port: int, *args: str, stdin: int) -> asyncio.subprocess.Process:
    """`asyncchat join --port PORT ARGS…` as a subprocess with real pipes for stdout and stderr."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncchat",
        "join",
        "--port",
        str(port),
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_join(port: int, *args: str, stdin: bytes | None = b"") -> tuple[int, str, str]:
    """Run `asyncchat join` to its end on `stdin`: (exit code, stdout, stderr)."""
    process = await spawn_join(port, *args, stdin=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
