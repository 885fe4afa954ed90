"""The baseline: a bare uvloop relay that speaks just enough of the protocol.

It reads a name, says hello, and relays every line as `<name> text` to every
other client, coalescing what one read brings into one write per recipient.
No limits, no sanitising, no history: the ceiling Python on uvloop can reach.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import ClassVar, cast

import uvloop


class Relay(asyncio.Protocol):
    members: ClassVar[set[Relay]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.name = b""
        self.pending = b""
        self.transport.write(b"*** Welcome! What is your name?\r\n")

    def data_received(self, data: bytes) -> None:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        if not self.name and lines:
            self.name = lines.pop(0).strip()
            self.members.add(self)
            self.transport.write(b"*** Hello " + self.name + b"!\r\n")
        if lines:
            prefix = b"<" + self.name + b"> "
            out = b"".join(prefix + line.rstrip(b"\r") + b"\r\n" for line in lines)
            for member in self.members:
                if member is not self:
                    member.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.members.discard(self)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Relay, "127.0.0.1", port, backlog=4096)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", file=sys.stderr)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
