"""Several listeners at once, each with its front end's wire format.

The second front end here is a small one written for the test: the line
protocol's reader with events written as JSON lines. Both listen on real
loopback sockets of one server and meet in one room.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from support import Client

from asyncchat.config import ServerConfig
from asyncchat.core.events import Event, Said
from asyncchat.edge.server import ChatServer, Listener
from asyncchat.frontends.line.connection import LineConnection
from asyncchat.frontends.line.wire import encode

encoded: Counter[str] = Counter()


def line_codec(event: Event) -> bytes:
    encoded["line"] += 1
    return encode(event)


def json_codec(event: Event) -> bytes:
    encoded["json"] += 1
    fields = {"kind": type(event).__name__}
    if isinstance(event, Said):
        fields |= {"sender": event.record.sender, "text": event.record.text}
    return (json.dumps(fields) + "\r\n").encode()


class CountedLines(LineConnection):
    codec = staticmethod(line_codec)


class JsonLines(LineConnection):
    codec = staticmethod(json_codec)


class TwoFrontEnds(ChatServer):
    def listeners(self) -> list[Listener]:
        host = self.config.host
        return [Listener("line", host, 0, CountedLines), Listener("json", host, 0, JsonLines)]


@pytest.fixture
async def two() -> AsyncIterator[TwoFrontEnds]:
    server = TwoFrontEnds(ServerConfig(port=0))
    await server.start()
    yield server
    await server.shutdown()


async def test_each_event_is_encoded_once_per_wire_format_in_use(two: TwoFrontEnds) -> None:
    (_, line_port), (_, json_port) = two.addresses
    alice = await Client.join(line_port, "Alice")
    bob = await Client.join(line_port, "Bob")
    await alice.line()
    carol = await Client.connect(json_port)
    assert json.loads(await carol.line()) == {"kind": "Welcome"}
    carol.send("Carol")
    assert json.loads(await carol.line()) == {"kind": "Hello"}
    dave = await Client.connect(json_port)
    await dave.line()
    dave.send("Dave")
    await dave.line()
    await carol.line()
    for client in (alice, bob):
        await client.until(lambda line: line.startswith("*** Dave joined"))
    await alice.quiet()
    encoded.clear()
    alice.send("hello both worlds")
    assert await bob.line() == "<Alice> hello both worlds"
    for client in (carol, dave):
        said = json.loads(await client.line())
        assert said == {"kind": "Said", "sender": "Alice", "text": "hello both worlds"}
    assert encoded == Counter({"line": 1, "json": 1})  # four recipients, two encodings


async def test_a_busy_second_listener_closes_the_first_again() -> None:
    first = ChatServer(ServerConfig(port=0))
    await first.start()
    taken = first.port

    class Clash(ChatServer):
        def listeners(self) -> list[Listener]:
            host = self.config.host
            return [
                Listener("line", host, 0, LineConnection),
                Listener("x", host, taken, JsonLines),
            ]

    clash = Clash(ServerConfig(port=0))
    with pytest.raises(OSError, match="in use"):
        await clash.start()
    assert clash.addresses == []
    await first.shutdown()
