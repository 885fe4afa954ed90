"""A raw IRC client for integration tests: lines in, parsed messages out, every
wait with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from support import TIMEOUT, read_until

from asyncchat.frontends.irc.message import Message, parse


class IRC:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = "*"

    @classmethod
    async def connect(cls, port: int, *, source: str | None = None) -> IRC:
        local = (source, 0) if source is not None else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        return cls(reader, writer)

    @classmethod
    async def register(
        cls, port: int, nick: str, *, caps: str = "", password: str | None = None
    ) -> IRC:
        """Connect and register as `nick`; returns after the end of the first NAMES."""
        client = await cls.connect(port)
        if caps:
            client.send("CAP LS 302")
            client.send(f"CAP REQ :{caps}")
        if password is not None:
            client.send(f"PASS {password}")
        client.send(f"NICK {nick}", f"USER {nick.lower()} 0 * :{nick} Test")
        if caps:
            client.send("CAP END")
        await client.until(lambda m: m.command == "001")
        await client.until(lambda m: m.command == "366")
        client.nick = nick
        return client

    def send(self, *lines: str) -> None:
        self.writer.write("".join(text + "\r\n" for text in lines).encode())

    async def raw(self, timeout: float = TIMEOUT) -> str:
        data = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        return data[:-2].decode()

    async def message(self, timeout: float = TIMEOUT) -> Message:
        while True:
            found = parse(await self.raw(timeout))
            if found is not None:
                return found

    async def until(
        self, wanted: Callable[[Message], bool], timeout: float = TIMEOUT
    ) -> list[Message]:
        """Every message up to and including the first one that is wanted."""
        return await read_until(self.message, wanted, timeout)

    async def sync(self, token: str = "sync") -> list[Message]:
        """Everything before the answer to our PING: nothing else is in flight."""
        self.send(f"PING {token}")
        seen = await self.until(lambda m: m.command == "PONG" and m.params[-1] == token)
        return seen[:-1]

    async def closed(self, timeout: float = TIMEOUT) -> bytes:
        return await asyncio.wait_for(self.reader.read(), timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def summary(messages: list[Message]) -> list[tuple[str, ...]]:
    """Commands and parameters: what an assertion compares, readable in a diff."""
    return [(m.command, *m.params) for m in messages]


async def ask(client: IRC, *lines: str) -> list[Message]:
    """Send `lines`; everything the server answered before the PONG of our PING."""
    client.send(*lines)
    return await client.sync()
