"""Rooms and history over real loopback sockets."""

from __future__ import annotations

from pathlib import Path

from support import Client, StartServer

from asyncchat.edge.server import ChatServer


async def test_two_rooms_never_see_each_others_public_lines(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    await alice.line()
    bob.send("/join #games")
    assert await alice.line() == "*** Bob left (moved to another room)"
    assert await bob.line() == "*** Now in #games (1 here): Bob"
    alice.send("lobby only", "/me stays")
    bob.send("games only", "alice: but this crosses")
    assert await alice.line() == "*Bob* but this crosses"
    assert await bob.line() == "-> *Alice* but this crosses"
    await bob.quiet()
    alice.send("/rooms", "/who")
    assert await alice.lines(2) == [
        "*** Rooms (2): #games (1), #lobby (1)",
        "*** Online (1): Alice",
    ]
    alice.send("/join GAMES")
    assert await alice.line() == "*** Now in #games (2 here): Alice, Bob"
    assert await bob.line() == "*** Alice joined (2 here)"


async def test_joining_a_busy_room_shows_what_was_just_said(start_server: StartServer) -> None:
    server = await start_server(history=3)
    alice = await Client.join(server.port, "Alice")
    alice.send(*(f"line {i}" for i in range(5)), "/me waves")
    await alice.quiet()
    bob = await Client.connect(server.port)
    await bob.line()
    bob.send("Bob")
    lines = await bob.until(lambda line: line.startswith("*** End of recent"))
    assert lines[0] == "*** Hello Bob! Online (2): Alice, Bob. Type /help for commands."
    assert lines[1] == "*** Recent messages in #lobby:"
    assert [line[len("*** [2026-11-25 12:01] ") :] for line in lines[2:5]] == [
        "<Alice> line 3",
        "<Alice> line 4",
        "* Alice waves",
    ]
    assert all(line.startswith("*** [") for line in lines[2:5])
    assert lines[5] == "*** End of recent messages in #lobby"
    alice.send("live now")
    assert await bob.line() == "<Alice> live now"


async def test_memory_history_is_gone_after_a_restart(start_server: StartServer) -> None:
    first = await start_server(db=":memory:")
    alice = await Client.join(first.port, "Alice")
    alice.send("remember me")
    await alice.quiet()
    await first.shutdown()
    second = await start_server(db=":memory:")
    bob = await Client.join(second.port, "Bob")
    await bob.quiet()


async def test_file_history_survives_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    first = await start_server(db=db)
    alice = await Client.join(first.port, "Alice")
    alice.send("/join attic", "remember me")
    assert await alice.line() == "*** Now in #attic (1 here): Alice"
    await alice.quiet()
    await first.shutdown()
    second = await start_server(db=db)
    bob = await Client.join(second.port, "Bob")
    await bob.quiet()
    bob.send("/join Attic")
    lines = await bob.until(lambda line: line.startswith("*** End of recent"))
    assert lines[0] == "*** Now in #Attic (1 here): Bob"
    assert lines[2].endswith("] <Alice> remember me")
