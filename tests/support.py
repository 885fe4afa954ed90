"""Real loopback clients for integration tests: every wait has a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from asyncchat.server import ChatServer

TIMEOUT = 5.0
StartServer = Callable[..., Awaitable[ChatServer]]


class Client:
    """A raw protocol client, like a netcat user with perfect reflexes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, rcvbuf: int | None = None) -> Client:
        if rcvbuf is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            return cls(reader, writer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
        return cls(reader, writer)

    @classmethod
    async def join(cls, port: int, name: str) -> Client:
        """Connect and register; the welcome and hello are checked and consumed."""
        client = await cls.connect(port)
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
        seen: list[str] = []

        async def read() -> None:
            while not seen or not wanted(seen[-1]):
                seen.append(await self.line(timeout))

        await asyncio.wait_for(read(), timeout)
        return seen

    async def quiet(self, token: str = "sync") -> None:
        """Prove nothing else is queued for us: the next line is our own pong."""
        self.send(f"/ping {token}")
        assert await self.line() == f"*** pong {token}"

    async def closed(self, timeout: float = TIMEOUT) -> bytes:
        """Whatever is left before the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
