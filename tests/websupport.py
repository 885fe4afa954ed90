"""A WebSocket chat user for tests (no browser): JSON in and out, every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from support import TIMEOUT, read_until
from websockets.asyncio.client import ClientConnection, connect

Message = dict[str, Any]


class WebUser:
    """One WebSocket connection to the server's /ws, read as JSON messages."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    @classmethod
    async def connect(cls, port: int, *, origin: str | None = None, path: str = "/ws") -> WebUser:
        socket = await asyncio.wait_for(
            connect(
                f"ws://127.0.0.1:{port}{path}",
                origin=origin,  # type: ignore[arg-type]
                compression=None,
                max_size=None,
            ),
            TIMEOUT,
        )
        return cls(socket)

    @classmethod
    async def join(cls, port: int, name: str) -> WebUser:
        """Connect and take `name`; the welcome and hello are checked and consumed."""
        user = await cls.connect(port)
        assert (await user.next())["type"] == "welcome"
        await user.send({"type": "name", "name": name})
        hello = await user.next()
        assert (hello["type"], hello["name"]) == ("hello", name), hello
        return user

    async def send(self, message: Message) -> None:
        await asyncio.wait_for(self.socket.send(json.dumps(message)), TIMEOUT)

    async def send_raw(self, data: str | bytes) -> None:
        await self.socket.send(data)

    async def next(self, timeout: float = TIMEOUT) -> Message:
        raw = await asyncio.wait_for(self.socket.recv(), timeout)
        assert isinstance(raw, str), raw
        decoded = json.loads(raw)
        assert isinstance(decoded, dict)
        return decoded

    async def until(
        self, wanted: Callable[[Message], bool], timeout: float = TIMEOUT
    ) -> list[Message]:
        """Every message up to and including the first one that is wanted."""
        return await read_until(self.next, wanted, timeout)

    async def of_type(self, kind: str, timeout: float = TIMEOUT) -> Message:
        """The next message of this type (earlier ones of other types are skipped)."""
        return (await self.until(lambda message: message["type"] == kind, timeout))[-1]

    async def quiet(self, token: str = "sync") -> None:
        """Prove nothing else is queued for us: the next message is our own pong."""
        await self.send({"type": "ping", "token": token})
        assert await self.next() == {"type": "pong", "token": token}

    async def close(self) -> None:
        await asyncio.wait_for(self.socket.close(), TIMEOUT)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


async def fetch(port: int, path: str, *headers: str) -> Reply:
    """One GET over a raw socket, read to the end (the server closes after it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers, "", ""]
        writer.write("\r\n".join(request).encode())
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if "content-length" in fields:
        assert len(body) == int(fields["content-length"])
    return Reply(int(status_line.split()[1]), fields, body)
