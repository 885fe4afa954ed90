"""Clients that never send a line ending: a pause ends their line (issue 10, item 10).

The classroom exercise this project started from has a client that sends its
name, then each `friend: message`, with no line ending, and prints whatever
`recv(1024)` returns. `ExerciseClient` is written the way it is: a blocking
socket and a reader thread. Real loopback sockets, a real server; the waits
are for lines, with timeouts. The pause itself is what is under test, so it is
never slept through: a test that needs it to have passed waits for another
connection's pause to end (`a_pause_passes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from support import TIMEOUT, Client, StartServer

from asyncchat.edge.server import ChatServer
from asyncchat.frontends.line.connection import (
    TIMER_SLACK,
    UNTERMINATED_PAUSE,
    LineConnection,
)


class ExerciseClient:
    """The exercise's client: a blocking socket, everything sent bare, and a reader
    thread collecting whatever each `recv(1024)` returns."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.chunks: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    @property
    def lines(self) -> list[str]:
        """The complete lines received so far."""
        return self.text.split("\r\n")[:-1]

    @property
    def eof(self) -> bool:
        return bool(self.chunks) and not self.chunks[-1]

    async def send(self, data: bytes) -> None:
        await asyncio.to_thread(self.sock.sendall, data)

    async def until(self, wanted: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        """The first received line that is wanted."""
        async with asyncio.timeout(timeout):
            while True:
                self._arrived.clear()
                for line in self.lines:
                    if wanted(line):
                        return line
                assert not self.eof, self.text
                await self._arrived.wait()

    async def closed(self, timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not self.eof:
                self._arrived.clear()
                await self._arrived.wait()

    def _read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(1024)
            except OSError:
                chunk = b""
            self._loop.call_soon_threadsafe(self._received, chunk)
            if not chunk:
                return

    def _received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._arrived.set()

    async def stop(self, *, reset: bool = False) -> None:
        """Hang up: a clean close (FIN), or with `reset` a TCP reset."""
        with contextlib.suppress(OSError):
            if reset:
                linger = struct.pack("ii", 1, 0)
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
        await asyncio.to_thread(self._reader.join, TIMEOUT)
        self.sock.close()


@asynccontextmanager
async def exercise_client(port: int) -> AsyncIterator[ExerciseClient]:
    sock = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))
    client = ExerciseClient(sock)
    try:
        yield client
    finally:
        await client.stop()


async def a_pause_passes(port: int) -> None:
    """Return once the server has ended a line by a pause on a connection that sent
    after this was called: what other connections sent before has paused as long."""
    pacer = await Client.connect(port)
    await pacer.line()
    pacer.send_raw(b"!")
    assert (await pacer.line()).startswith("*** error: '!' is not a valid name")
    await pacer.close()


def hello(name: str) -> Callable[[str], bool]:
    return lambda line: line.startswith(f"*** Hello {name}!")


async def test_the_exercise_client_registers_and_its_messages_arrive(
    server: ChatServer,
) -> None:
    """Name, private message and public message, each sent bare, each ended by
    the pause (not sooner), and the exercise client reads the replies."""
    loop = asyncio.get_running_loop()
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        sent = loop.time()
        await alice.send(b"Alice")
        assert await alice.until(hello("Alice")) == (
            "*** Hello Alice! Online (2): Alice, Bob. Type /help for commands."
        )
        assert loop.time() - sent >= UNTERMINATED_PAUSE - TIMER_SLACK
        assert alice.lines[0] == "*** Welcome to asyncchat! What is your name?"
        assert await bob.line() == "*** Alice joined (2 online)"
        await alice.send(b"Bob: hi")
        assert await bob.line() == "*Alice* hi"
        await alice.until(lambda line: line == "-> *Bob* hi")
        await alice.send(b"hello")
        assert await bob.line() == "<Alice> hello"
        bob.send("Alice: hi yourself")
        await alice.until(lambda line: line == "*Bob* hi yourself")
        assert await bob.line() == "-> *Alice* hi yourself"
        await bob.quiet()


async def test_a_line_client_is_never_split_by_a_pause(server: ChatServer) -> None:
    """After its first LF (its name), a half line waits as long as it takes."""
    loop = asyncio.get_running_loop()
    bob = await Client.join(server.port, "Bob")
    carol = await Client.join(server.port, "Carol")
    assert await bob.line() == "*** Carol joined (2 online)"
    carol.send_raw(b"hel")
    await carol.writer.drain()
    sent = loop.time()
    await a_pause_passes(server.port)
    assert loop.time() - sent >= UNTERMINATED_PAUSE - TIMER_SLACK
    carol.send_raw(b"lo\n")
    assert await bob.line() == "<Carol> hello"
    await bob.quiet()


async def test_a_pause_inside_a_name_ends_the_name(server: ChatServer) -> None:
    """`Al`, a pause, `ice`: two lines, the name `Al` and a message."""
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as al:
        await al.send(b"Al")
        await al.until(hello("Al"))
        assert await bob.line() == "*** Al joined (2 online)"
        await al.send(b"ice")
        assert await bob.line() == "<Al> ice"


async def test_pieces_closer_than_the_pause_are_one_name_however_long_they_take(
    start_server: StartServer,
) -> None:
    """Each new piece restarts the pause. Bob's pings, held 100 ms each by flood
    control (10 lines/s, no burst), space the pieces."""
    server = await start_server(rate=10, burst=1)
    loop = asyncio.get_running_loop()
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as client:
        name = "Alexander"
        first = loop.time()
        for i, letter in enumerate(name):
            if i:
                await bob.quiet(f"{i}")
            await client.send(letter.encode())
        assert loop.time() - first > UNTERMINATED_PAUSE
        await client.until(hello(name))
        assert await bob.line() == f"*** {name} joined (2 online)"
        assert client.lines[1:] == [
            "*** Hello Alexander! Online (2): Alexander, Bob. Type /help for commands."
        ]


async def test_a_pause_ended_line_is_checked_like_any_line(start_server: StartServer) -> None:
    """Invalid UTF-8 and too-long lines refused (the pause ends the discarding of a
    too-long one), a blank one ignored."""
    server = await start_server(max_line=64)
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        await alice.send(b"Alice")
        await alice.until(hello("Alice"))
        await bob.line()
        await alice.send(b"h\xc3\xa9llo")
        assert await bob.line() == "<Alice> héllo"
        await alice.send(b"caf\xe9")
        await alice.until(lambda line: "not valid UTF-8" in line)
        await alice.send(b"x" * 65)
        await alice.until(lambda line: "line too long (the limit is 64 bytes)" in line)
        await a_pause_passes(server.port)
        await alice.send(b" \t ")
        await a_pause_passes(server.port)
        await alice.send(b"/ping after")
        await alice.until(lambda line: line == "*** pong after")
        assert alice.lines[2:] == [
            "*** error: that line was not valid UTF-8; it was not sent",
            "*** error: line too long (the limit is 64 bytes); it was not sent",
            "*** pong after",
        ]
        await bob.quiet()


async def test_an_lf_just_after_the_pause_and_then_lines_only(server: ChatServer) -> None:
    """An LF right after a pause ended the name is a blank line, nothing more; from
    then on the connection is read as lines, and a pause splits nothing."""
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        await alice.send(b"Alice")
        await alice.until(hello("Alice"))
        await bob.line()
        await alice.send(b"\nhello\n")
        assert await bob.line() == "<Alice> hello"
        await alice.send(b"wor")
        await a_pause_passes(server.port)
        await alice.send(b"ld\n")
        assert await bob.line() == "<Alice> world"
        await bob.quiet()


async def test_pause_ended_lines_wait_for_flood_control_and_keep_their_bytes(
    start_server: StartServer,
) -> None:
    """One token a second. The name takes the first, so `one`, ended by its pause
    meanwhile, waits for the next: reading waits with it, and `two\\n`, sent after
    that pause, joins neither `one` nor anything else, although its LF arrives
    while `one` is still held."""
    server = await start_server(rate=1, burst=1)
    loop = asyncio.get_running_loop()
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        sent = loop.time()
        await alice.send(b"Alice")
        await alice.until(hello("Alice"))
        assert await bob.line() == "*** Alice joined (2 online)"
        await alice.send(b"one")
        await a_pause_passes(server.port)
        await alice.send(b"two\n")
        assert await bob.line() == "<Alice> one"
        assert loop.time() - sent >= 1 - TIMER_SLACK
        assert await bob.line() == "<Alice> two"
        assert loop.time() - sent >= 2 - TIMER_SLACK
        assert alice.lines[2:] == []


@pytest.mark.parametrize("how", ["eof", "reset", "expired", "refused"])
async def test_the_pause_timer_never_outlives_the_connection(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Whether the client closes, resets, runs out of time to give a name in the
    middle of one, or is refused (server full), no pause ends a line for it
    afterwards. (At EOF the unfinished line is handed over at once, not by the
    pause.) Bob's pings, held 100 ms each by flood control, measure the time out."""
    late: list[LineConnection] = []
    pause_elapsed = LineConnection._pause_elapsed

    def spy(conn: LineConnection) -> None:
        if conn._gone or conn._after_eof is not None:
            late.append(conn)
        pause_elapsed(conn)

    monkeypatch.setattr(LineConnection, "_pause_elapsed", spy)
    server = await start_server(rate=10, burst=1, register_timeout=0.5, max_clients=2)
    loop = asyncio.get_running_loop()
    bob = await Client.join(server.port, "Bob")
    filler = await Client.connect(server.port) if how == "refused" else None
    if filler is not None:
        await filler.line()
    before = set(server.connections)
    async with exercise_client(server.port) as alice:
        await alice.until(lambda line: line.startswith("*** "))
        with contextlib.suppress(OSError):
            await alice.send(b"Ali")
        await bob.quiet("read")
        if how in ("eof", "reset"):
            await alice.stop(reset=how == "reset")
            if how == "eof":  # "Ali" was the name, ended by the close
                assert await bob.lines(2) == [
                    "*** Ali joined (2 online)",
                    "*** Ali left (connection closed)",
                ]
        else:
            for letter in "cexanderthegreat":
                if alice.eof:
                    break
                with contextlib.suppress(OSError):
                    await alice.send(letter.encode())
                await bob.quiet(letter)
            await alice.closed()
            expected = {
                "expired": "*** error: no name given within 0.5 seconds; goodbye",
                "refused": "*** error: server is full",
            }
            assert alice.lines[-1] == expected[how]
        gone = loop.time()
        while loop.time() - gone < UNTERMINATED_PAUSE + 0.1:
            await bob.quiet("wait")
    assert late == []
    assert server.connections <= before


async def test_a_telnet_client_is_read_as_lines_whatever_its_pauses(server: ChatServer) -> None:
    """A telnet client that sends each key as it is typed negotiates options first:
    it is read as lines from the start, so a slow typist's name is not cut."""
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        await alice.send(b"\xff\xfb\x1f\xff\xfb\x18Al")  # IAC WILL NAWS, IAC WILL TTYPE
        await a_pause_passes(server.port)
        await alice.send(b"ice\r\n")
        await alice.until(hello("Alice"))
        assert await bob.line() == "*** Alice joined (2 online)"


async def test_the_last_message_before_a_close_is_delivered(server: ChatServer) -> None:
    """The exercise's client may close right after its last message, within 300 ms."""
    bob = await Client.join(server.port, "Bob")
    async with exercise_client(server.port) as alice:
        await alice.send(b"Alice")
        await alice.until(hello("Alice"))
        assert await bob.line() == "*** Alice joined (2 online)"
        await alice.send(b"Bob: bye")
        await alice.stop()
        assert await bob.lines(2) == ["*Alice* bye", "*** Alice left (connection closed)"]
