"""Defects a review of the web front end found, each shown against a real server (and,
for the page's, in chromium), kept so that they stay fixed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
import trustme
from browsersupport import join, needs_chromium, say
from playwright.async_api import Browser, expect
from support import TIMEOUT, Client, StartServer, issue
from websockets.asyncio.server import Server
from websockets.exceptions import ConnectionClosed
from websupport import WebUser, fetch

from asyncchat.core.effects import PasswordWork
from asyncchat.core.events import LeaveReason
from asyncchat.edge.passwords import Done, PasswordWorker
from asyncchat.edge.server import ChatServer
from asyncchat.frontends.web import listener

PASSWORD = "secret123"


def web(server: ChatServer) -> int:
    return server.port_of("web")


def cut_every_web_user(server: ChatServer) -> None:
    """Drop every WebSocket from the server's side, as a network failure would."""
    for user in list(server.web_sessions):
        user.cut(LeaveReason.RESET)


def _masked(opcode: int, payload: bytes) -> bytes:
    """One client frame (clients must mask), payload under 126 bytes."""
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + body


async def _raw_websocket(
    port: int, rcvbuf: int | None = None
) -> tuple[socket.socket, asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket opened by hand, so that frames can be written in bulk."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, reader, writer


async def _server_frame(reader: asyncio.StreamReader) -> dict[str, object]:
    """One unfragmented text frame from the server (unmasked, as servers send)."""
    first, second = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    assert first == 0x81, first
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TIMEOUT))
    elif size == 127:
        (size,) = struct.unpack("!Q", await asyncio.wait_for(reader.readexactly(8), TIMEOUT))
    decoded = json.loads(await asyncio.wait_for(reader.readexactly(size), TIMEOUT))
    assert isinstance(decoded, dict)
    return decoded


# connection.py: the read loop waiting for a password check.


async def test_a_session_that_expires_while_its_password_is_checked_ends(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_server(web_port=0, register_timeout=1.0, shutdown_grace=0.5)
    owner = await Client.join(server.port, "Ann")
    owner.send(f"/register {PASSWORD}")
    assert await owner.line() == "*** 'Ann' is registered to you"

    # From here on, password checks are held until the test answers them.
    held: list[tuple[PasswordWork, Done]] = []
    asked = asyncio.Event()

    def hold(worker: PasswordWorker, work: PasswordWork, done: Done) -> None:
        held.append((work, done))
        asked.set()

    monkeypatch.setattr(PasswordWorker, "run", hold)
    user = await WebUser.connect(web(server))
    assert (await user.next())["type"] == "welcome"
    await user.send({"type": "name", "name": "Ann"})
    assert (await user.next())["type"] == "ask-password"
    await user.send({"type": "password", "password": "not-the-password"})
    await asyncio.wait_for(asked.wait(), TIMEOUT)
    # The name timer runs out while the password is being checked.
    expired = await user.next()
    assert (expired["type"], expired["code"]) == ("error", "register-timeout")
    with pytest.raises(ConnectionClosed):
        await user.next()
    ((work, done),) = held
    done(work, False)  # the check finishes, for a session the hub has forgotten

    (listener,) = server._web_servers
    handlers = set(listener.handler_tasks)
    assert handlers
    _, pending = await asyncio.wait(handlers, timeout=2.0)
    try:
        assert not pending, "the WebSession never ended"
        assert not server.web_sessions
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT)
        await owner.close()


# The send-queue cut-off and websockets' own output.


async def test_a_browser_that_pings_without_reading_is_cut_off(start_server: StartServer) -> None:
    server = await start_server(web_port=0, max_sendq=4096)
    port = web(server)
    nc = await Client.join(server.port, "Nc")

    sock, _, writer = await _raw_websocket(port, rcvbuf=4096)
    try:
        writer.write(_masked(1, json.dumps({"type": "name", "name": "Pinger"}).encode()))
        assert await nc.line() == "*** Pinger joined (2 online)"
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # from now on it reads nothing

        pings = _masked(9, b"p" * 125) * 1000  # 131 kB of pings; each pong is 127 bytes
        with contextlib.suppress(ConnectionError):
            for _ in range(64):  # 8 MB: far past max-sendq and the kernel's buffers
                writer.write(pings)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
        try:
            left = await nc.until(lambda line: "Pinger left" in line, timeout=3.0)
        except TimeoutError:
            buffered = sum(
                user.peer.transport.get_write_buffer_size() for user in server.web_sessions
            )
            raise AssertionError(f"still there, {buffered} bytes unsent for it") from None
        assert left[-1] == "*** Pinger left (too slow)"
    finally:
        with contextlib.suppress(OSError):  # vanish with a reset: nothing left to flush
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        await nc.close()


async def test_flood_control_reads_at_most_a_few_messages_ahead(start_server: StartServer) -> None:
    server = await start_server(web_port=0, rate=0.5, burst=1)
    _, reader, writer = await _raw_websocket(web(server))
    try:
        name = _masked(1, json.dumps({"type": "name", "name": "Flood"}).encode())
        pings = [
            _masked(1, json.dumps({"type": "ping", "token": str(i)}).encode()) for i in range(2000)
        ]
        writer.write(name + b"".join(pings))  # one write, about 60 kB: one read for the server
        assert (await _server_frame(reader))["type"] == "welcome"
        assert (await _server_frame(reader))["type"] == "hello"  # the read was parsed whole
        (user,) = server.web_sessions
        frames = list(user._socket.recv_messages.frames.queue)
        held = sum(len(frame.data) + 6 for frame in frames)  # as sent: masked, short
        # One read at most (the listening socket's small receive buffer): ~--max-recvq.
        assert held <= server.config.max_recvq, f"{len(frames)} messages, {held} bytes"
        assert len(frames) < len(pings) // 10
    finally:
        writer.transport.abort()


async def test_a_flood_that_closes_is_done_speaking_after_burst_more(
    start_server: StartServer,
) -> None:
    """Like a line client's EOF: what was read ahead of flood control is not all said
    for a user who has gone; --burst more at most."""
    server = await start_server(web_port=0, rate=4, burst=2)
    nc = await Client.join(server.port, "Nc")
    _, reader, writer = await _raw_websocket(web(server))
    name = _masked(1, json.dumps({"type": "name", "name": "Flood"}).encode())
    says = [_masked(1, json.dumps({"type": "say", "text": f"n{i}"}).encode()) for i in range(40)]
    writer.write(name + b"".join(says))
    assert (await _server_frame(reader))["type"] == "welcome"
    assert (await _server_frame(reader))["type"] == "hello"
    assert await nc.line() == "*** Flood joined (2 online)"
    assert await nc.line() == "<Flood> n0"  # the burst's second token
    writer.write_eof()  # gone (a closed tab), its close frame unread behind the flood
    seen = await nc.until(lambda line: line.startswith("*** Flood left"))
    said = [line for line in seen if line.startswith("<Flood>")]
    assert len(said) <= 2 + 1, seen  # --burst after the close, and one in flight
    writer.transport.abort()
    await nc.close()


# listener.py: admission on the TLS port.


async def test_an_address_over_its_limits_gets_no_tls_handshake_on_the_web_port(
    start_server: StartServer, tmp_path: Path
) -> None:
    pem = issue(trustme.CA(), tmp_path)
    server = await start_server(
        web_tls_port=0,
        tls_cert=pem,
        tls_key=pem,
        tls_port=0,
        exempt="",
        max_unnamed_per_ip=2,
    )
    port = server.port_of("web", tls=True)
    opened = [
        await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        for _ in range(3)
    ]
    try:
        # Two handshakes that never start hold the address's two places: the third
        # connection is refused at once, without TLS (as on --tls-port).
        reader = opened[2][0]
        assert await asyncio.wait_for(reader.read(), 3.0) == b""
    finally:
        for _, writer in opened:
            writer.close()


# site.py / listener.py: security headers.


async def test_a_plain_get_of_the_socket_path_has_the_security_headers(
    start_server: StartServer,
) -> None:
    server = await start_server(web_port=0)
    reply = await fetch(web(server), "/ws")
    assert reply.status >= 400, reply
    assert "default-src 'none'" in reply.headers.get("content-security-policy", ""), reply
    assert reply.headers.get("x-content-type-options") == "nosniff", reply


# app.js


@needs_chromium
async def test_after_a_reconnect_the_prompt_shows_why_the_password_was_refused(
    browser: Browser, start_server: StartServer
) -> None:
    server = await start_server(web_port=0)
    ann = await join(browser, server, "Ann")
    await say(ann, f"/register {PASSWORD}")
    await expect(ann.locator("#messages")).to_contain_text("'Ann' is registered to you")
    cut_every_web_user(server)
    # The page reconnects, names itself again, and is asked for the password.
    await expect(ann.locator("#password")).to_be_visible()
    await ann.fill("#password", "not-the-password")
    await ann.press("#password", "Enter")
    await expect(ann.locator("#password")).to_be_hidden()  # back to the name prompt
    await expect(ann.locator("#login-error")).to_contain_text("wrong password")


@needs_chromium
async def test_a_refused_nick_change_does_not_stop_reconnecting(
    browser: Browser, start_server: StartServer
) -> None:
    server = await start_server(web_port=0, oper=("Op",))
    op = await Client.join(server.port, "Op")
    op.send(f"/register {PASSWORD}")
    assert await op.line() == "*** 'Op' is registered to you"
    op.send("/ban Mallory")
    await op.until(lambda line: "Mallory" in line)
    ann = await join(browser, server, "Ann")
    await say(ann, "/nick Mallory")
    await expect(ann.locator("#messages li.error")).to_contain_text("banned")
    cut_every_web_user(server)
    await expect(ann.locator("#status")).to_contain_text("Disconnected")
    await expect(ann.locator("#status")).to_have_text("Connected as Ann")
    await op.close()


@needs_chromium
async def test_an_action_typed_in_a_private_conversation_stays_private(
    browser: Browser, start_server: StartServer
) -> None:
    server = await start_server(web_port=0)
    ann = await join(browser, server, "Ann")
    bob = await Client.join(server.port, "Bob")
    await ann.get_by_role("button", name="Write privately to Bob").click()
    await expect(ann.locator("#view-title")).to_have_text("Private: Bob")
    await say(ann, "/me hugs you")
    await say(ann, "done")
    seen = await bob.until(lambda line: line == "*Ann* done")
    assert "* Ann hugs you" not in seen, seen
    await bob.close()


@needs_chromium
async def test_a_command_typed_after_a_space_is_not_said_publicly(
    browser: Browser, start_server: StartServer
) -> None:
    server = await start_server(web_port=0)
    ann = await join(browser, server, "Ann")
    bob = await Client.join(server.port, "Bob")
    await say(ann, f" /identify {PASSWORD}")
    await say(ann, "sync")
    seen = await bob.until(lambda line: line == "<Ann> sync")
    assert not any(PASSWORD in line for line in seen), seen
    await bob.close()


async def test_a_web_tls_port_in_use_leaves_no_socket_open(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = issue(trustme.CA(), tmp_path)
    made: list[Server] = []
    serve = listener._serve

    async def recorded(*args: Any, **kwargs: Any) -> Server:
        server = await serve(*args, **kwargs)
        made.append(server)
        return server

    monkeypatch.setattr(listener, "_serve", recorded)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match="in use"):
            await start_server(
                host="127.0.0.1",
                web_tls_port=busy.getsockname()[1],
                tls_cert=pem,
                tls_key=pem,
                tls_port=0,
            )
    assert made, "open_web made no websockets server"
    # Every websockets server open_web made is closed, its socket with it.
    assert [server.server.sockets for server in made] == [()] * len(made)
