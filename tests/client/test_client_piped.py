"""`asyncchat join` with pipes, as scripts and bots use it: a real subprocess."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import cast

import pytest
from support import TIMEOUT, Client, StartServer, run_join, spawn_join

from asyncchat.client.client import ConnectionLost, ServerConnection
from asyncchat.edge.server import ChatServer


async def test_a_one_shot_private_message_is_delivered(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    code, out, err = await run_join(server.port, "John", stdin=b"Bob: hi\n")
    assert code == 0, err
    assert await bob.lines(3) == ["*** John joined (2 online)", "*John* hi", "*** John left"]
    assert out.splitlines() == [
        "*** Hello John! Online (2): Bob, John. Type /help for commands.",
        "-> *Bob* hi",
        "*** Bye John!",
    ]
    assert err == ""


async def test_everything_sent_is_handled_before_exit_even_when_throttled(
    start_server: StartServer,
) -> None:
    server = await start_server(rate=100, burst=5)
    bob = await Client.join(server.port, "Bob")
    lines = b"".join(b"line %d\n" % i for i in range(40))
    code, out, _ = await run_join(server.port, "John", stdin=lines)
    assert code == 0
    received = await bob.lines(42)
    assert received[1:41] == [f"<John> line {i}" for i in range(40)]
    assert received[41] == "*** John left"
    assert "pong" not in out


async def test_received_lines_go_to_stdout_and_q_quits(server: ChatServer) -> None:
    process = await spawn_join(server.port, "John", stdin=asyncio.subprocess.PIPE)
    assert process.stdin is not None
    assert process.stdout is not None
    assert (await process.stdout.readline()).startswith(b"*** Hello John!")
    bob = await Client.join(server.port, "Bob")
    assert await process.stdout.readline() == b"*** Bob joined (2 online)\n"
    bob.send("hello John", "john: secret")
    assert await process.stdout.readline() == b"<Bob> hello John\n"
    assert await process.stdout.readline() == b"*Bob* secret\n"
    process.stdin.write(b"q\nnever sent\n")
    await process.stdin.drain()
    assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    assert await bob.lines(2) == ["-> *John* secret", "*** John left"]
    await bob.quiet()


async def test_stay_keeps_listening_after_eof_until_a_signal(server: ChatServer) -> None:
    process = await spawn_join(server.port, "--stay", "logbot", stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    assert (await process.stdout.readline()).startswith(b"*** Hello logbot!")
    alice = await Client.join(server.port, "Alice")
    alice.send("anyone?")
    assert await process.stdout.readline() == b"*** Alice joined (2 online)\n"
    assert await process.stdout.readline() == b"<Alice> anyone?\n"
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    assert await alice.line() == "*** logbot left"


async def test_a_refused_name_exits_2_with_the_reason(server: ChatServer) -> None:
    john = await Client.join(server.port, "John")
    code, out, err = await run_join(server.port, "JOHN", stdin=b"hi\n")
    await john.quiet()
    assert code == 2
    assert err == "asyncchat: name refused: the name 'JOHN' is taken\n"
    assert out == ""


async def test_no_server_exits_1_with_one_line_and_no_traceback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = await run_join(port, "John")
    assert code == 1
    assert err == f"asyncchat: cannot connect to 127.0.0.1:{port}: Connection refused\n"
    assert out == ""


async def test_the_server_going_away_exits_1_without_reconnect(server: ChatServer) -> None:
    """A bot told --no-reconnect (without it, --stay reconnects: the test below)."""
    process = await spawn_join(
        server.port, "--stay", "--no-reconnect", "John", stdin=asyncio.subprocess.DEVNULL
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).startswith(b"*** Hello John!")
    await server.shutdown()
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 1
    assert out == b"*** server is shutting down\n"
    assert err == b"asyncchat: the server closed the connection\n"


async def test_a_server_line_longer_than_the_read_buffer_arrives_whole() -> None:
    reader = asyncio.StreamReader(limit=1024)
    names = ", ".join(f"user{i}" for i in range(20_000))
    reader.feed_data(f"*** Online (20000): {names}\r\n<Bob> next\r\n".encode())
    reader.feed_eof()
    conn = ServerConnection(reader, cast(asyncio.StreamWriter, None))
    assert await conn.line() == f"*** Online (20000): {names}"
    assert await conn.line() == "<Bob> next"
    with pytest.raises(ConnectionLost):
        await conn.line()


async def test_a_server_that_says_nothing_is_one_line_and_exit_1() -> None:
    """It accepts and stays silent (or speaks another protocol): no hang."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with silent:
        started = asyncio.get_running_loop().time()
        code, out, err = await run_join(port, "Bob", "--timeout", "0.5")
        elapsed = asyncio.get_running_loop().time() - started
    assert code == 1
    assert out == ""
    assert err == (
        f"asyncchat: 127.0.0.1:{port}: no greeting within 0.5 s; is it an asyncchat server?\n"
    )
    assert elapsed < TIMEOUT


async def test_a_staying_bot_reconnects_after_the_server_restarts(
    start_server: StartServer,
) -> None:
    server = await start_server()
    port = server.port
    process = await spawn_join(port, "--stay", "logbot", stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        assert (await process.stdout.readline()).startswith(b"*** Hello logbot!")
        await server.shutdown()
        assert await process.stdout.readline() == b"*** server is shutting down\n"
        warning = await asyncio.wait_for(process.stderr.readline(), TIMEOUT)
        assert warning == b"asyncchat: connection lost; reconnecting in 1 s\n"
        again = await start_server(port=port)
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        assert line.startswith(b"*** Hello logbot!")
        alice = await Client.join(again.port, "Alice")
        alice.send("still there?")
        assert await process.stdout.readline() == b"*** Alice joined (2 online)\n"
        assert await process.stdout.readline() == b"<Alice> still there?\n"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_no_history_keeps_a_bots_output_to_what_happens_now(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    alice.send("old news")
    await alice.quiet()
    code, out, _ = await run_join(server.port, "--no-history", "bot", stdin=b"")
    assert code == 0
    assert "old news" not in out
    assert "Recent messages" not in out
    code, out, _ = await run_join(server.port, "bot2", stdin=b"")
    assert "old news" in out  # without the flag it is there


async def test_a_staying_bot_keeps_its_room_and_every_line_across_a_restart(
    start_server: StartServer,
) -> None:
    """Its stdin stays open (a bot fed by a pipe): nothing sent after the restart is lost,
    and it is back in the room it had joined."""
    server = await start_server()
    port = server.port
    process = await spawn_join(port, "--stay", "relaybot", stdin=asyncio.subprocess.PIPE)
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        assert (await process.stdout.readline()).startswith(b"*** Hello relaybot!")
        process.stdin.write(b"/join ops\n")
        assert (await process.stdout.readline()).startswith(b"*** Now in #ops")
        await server.shutdown()
        assert await process.stdout.readline() == b"*** server is shutting down\n"
        await asyncio.wait_for(process.stderr.readline(), TIMEOUT)  # reconnecting in 1 s
        again = await start_server(port=port)
        assert (await process.stdout.readline()).startswith(b"*** Hello relaybot!")
        assert (await process.stdout.readline()).startswith(b"*** Now in #ops")
        carol = await Client.join(again.port, "Carol")
        carol.send("/join ops")
        await carol.until(lambda line: line.startswith("*** Now in #ops"))
        process.stdin.write(b"line2\nline3\n")
        assert await carol.lines(2) == ["<relaybot> line2", "<relaybot> line3"]
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_bot_signs_in_with_the_password_from_its_environment(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await Client.join(server.port, "Botty")
    owner.send("/register bot-secret-42")
    assert await owner.line() == "*** 'Botty' is registered to you"
    owner.send("/quit")
    await owner.until(lambda line: line.startswith("*** Bye"))
    watcher = await Client.join(server.port, "Watcher")

    code, out, err = await run_join(server.port, "Botty", stdin=b"beep\n")
    assert code == 2, (out, err)
    assert "'Botty' is registered: its password is needed" in err
    assert "ASYNCCHAT_PASSWORD" in err

    monkeypatch.setenv("ASYNCCHAT_PASSWORD", "bot-secret-42")
    code, out, err = await run_join(server.port, "Botty", stdin=b"beep\n")
    assert code == 0, (out, err)
    assert out.startswith("*** Hello Botty! Online (2): Botty, Watcher.")
    assert "bot-secret-42" not in out + err
    await watcher.until(lambda line: line == "<Botty> beep")
