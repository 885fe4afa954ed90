"""The contract, row by row, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from support import Client, StartServer

from asyncchat.edge.server import ChatServer

WELCOME = b"*** Welcome to asyncchat! What is your name?\r\n"


async def trio(server: ChatServer) -> tuple[Client, Client, Client]:
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    john = await Client.join(server.port, "John")
    assert await alice.line() == "*** John joined (3 online)"
    assert await bob.line() == "*** John joined (3 online)"
    return alice, bob, john


# --- Framing -------------------------------------------------------------


async def test_server_lines_end_in_crlf(server: ChatServer) -> None:
    client = await Client.connect(server.port)
    assert await asyncio.wait_for(client.reader.readexactly(len(WELCOME)), 5) == WELCOME


async def test_lf_and_crlf_lines_and_telnet_negotiation(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    telnet = await Client.connect(server.port)
    await telnet.line()
    telnet.send_raw(b"\xff\xfd\x03\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0Bo\xff\xf1b\r\n")
    assert (await telnet.line()).startswith("*** Hello Bob!")
    await alice.line()
    telnet.send_raw(b"crlf\r\nlf\n\xff\xf4ip\r\n")
    assert await alice.lines(3) == ["<Bob> crlf", "<Bob> lf", "<Bob> ip"]


async def test_a_long_line_is_refused_and_the_next_one_is_read(
    start_server: StartServer,
) -> None:
    server = await start_server(max_line=100)
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    await alice.line()
    bob.send_raw(b"x" * 101)
    assert await bob.line() == (
        "*** error: line too long (the limit is 100 bytes); it was not sent"
    )
    bob.send_raw(b"y" * 5000 + b"\n" + b"z" * 100 + b"\r\nafter\n")
    assert await alice.lines(2) == ["<Bob> " + "z" * 100, "<Bob> after"]
    await bob.quiet()


async def test_invalid_utf8_is_refused_and_the_connection_lives(server: ChatServer) -> None:
    alice, bob, _ = await trio(server)
    bob.send_raw(b"caf\xe9\nok\n")
    assert await bob.line() == "*** error: that line was not valid UTF-8; it was not sent"
    assert await alice.line() == "<Bob> ok"


async def test_blank_lines_are_ignored(server: ChatServer) -> None:
    alice, bob, _ = await trio(server)
    bob.send("", "   ", "\t", "real")
    assert await alice.line() == "<Bob> real"
    await bob.quiet()


async def test_control_characters_never_reach_anyone(server: ChatServer) -> None:
    alice, bob, _ = await trio(server)
    bob.send("\x1b[2J\x1b[31mhi\u202e\r*** fake notice\x07")
    assert await alice.line() == "<Bob> hi*** fake notice"


# --- Registration --------------------------------------------------------


async def test_taken_and_invalid_names_are_asked_again(server: ChatServer) -> None:
    alice = await Client.join(server.port, "John")
    client = await Client.connect(server.port)
    await client.line()
    client.send("JOHN")
    assert await client.line() == "*** error: the name 'JOHN' is taken"
    assert "name" in (await client.line()).lower()
    client.send("server")
    assert await client.line() == (
        "*** error: 'server' is not a valid name: the name 'server' is reserved"
    )
    assert "name" in (await client.line()).lower()
    client.send("  Johnny  ")
    assert (await client.line()) == (
        "*** Hello Johnny! Online (2): John, Johnny. Type /help for commands."
    )
    assert await alice.line() == "*** Johnny joined (2 online)"


async def test_no_name_in_time_closes_the_connection(start_server: StartServer) -> None:
    server = await start_server(register_timeout=0.3)
    client = await Client.connect(server.port)
    await client.line()
    client.send("bad name", "also bad")
    rest = (await client.closed()).decode()
    assert rest.endswith("*** error: no name given within 0.3 seconds; goodbye\r\n")
    assert server.hub.connections == 0


async def test_registering_in_time_is_not_cut(start_server: StartServer) -> None:
    server = await start_server(register_timeout=0.3)
    client = await Client.join(server.port, "Quick")
    other = await Client.connect(server.port)
    await other.closed()  # the other one's timer fires; ours must not
    await client.quiet()


async def test_leaving_by_quit_frees_the_name_at_once(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("/quit see you")
    assert await john.line() == "*** Bye John!"
    assert await john.closed() == b""
    assert await alice.line() == "*** John left (quit: see you)"
    assert await bob.line() == "*** John left (quit: see you)"
    again = await Client.join(server.port, "john")
    assert await alice.line() == "*** john joined (3 online)"
    await again.quiet()


async def test_leaving_by_eof_and_reset_is_told(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    await john.close()
    assert await alice.line() == "*** John left (connection closed)"
    sock = bob.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.writer.transport.abort()
    assert await alice.line() == "*** Bob left (connection reset)"
    await alice.quiet()
    assert server.hub.online == 1


async def test_unnamed_connections_leave_silently(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    lurker = await Client.connect(server.port)
    await lurker.line()
    await lurker.close()
    await alice.quiet()


# --- Sending -------------------------------------------------------------


async def test_public_lines_reach_everyone_else_without_echo(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("hello all")
    assert await alice.line() == "<John> hello all"
    assert await bob.line() == "<John> hello all"
    await john.quiet()


@pytest.mark.parametrize("line", ["Bob: hi", "Bob:hi", "bob: hi", "/msg Bob hi", "/msg BOB hi"])
async def test_private_lines(server: ChatServer, line: str) -> None:
    alice, bob, john = await trio(server)
    john.send(line)
    assert await bob.line() == "*John* hi"
    assert await john.line() == "-> *Bob* hi"
    await alice.quiet()


@pytest.mark.parametrize("command", ["/reply", "/r"])
async def test_reply(server: ChatServer, command: str) -> None:
    alice, bob, john = await trio(server)
    bob.send(f"{command} anyone?")
    assert await bob.line() == (
        "*** error: no one has sent you a private message yet; nothing was sent"
    )
    john.send("Bob: ping")
    assert await bob.line() == "*John* ping"
    bob.send(f"{command} pong")
    assert await john.lines(2) == ["-> *Bob* ping", "*Bob* pong"]
    assert await bob.line() == "-> *John* pong"
    await alice.quiet()


async def test_me_all_and_escaped_slash(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("/me waves", "/all Bob: hi", "//shrug")
    expected = ["* John waves", "<John> Bob: hi", "<John> /shrug"]
    assert await alice.lines(3) == expected
    assert await bob.lines(3) == expected
    await john.quiet()


@pytest.mark.parametrize("command", ["/who", "/names", "/users"])
async def test_who(server: ChatServer, command: str) -> None:
    _, bob, _ = await trio(server)
    bob.send(command)
    assert await bob.line() == "*** Online (3): Alice, Bob, John"


async def test_nick(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("/nick Johnny")
    for client in (alice, bob, john):
        assert await client.line() == "*** John is now Johnny"
    alice.send("johnny: welcome back")
    assert await john.line() == "*Alice* welcome back"
    john.send("/nick bob")
    assert await john.line() == "*** error: the name 'bob' is taken"


async def test_ping_help_quit_and_unknown(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    alice.send("/ping", "/ping token 1", "/anything-else")
    assert await alice.lines(3) == [
        "*** pong",
        "*** pong token 1",
        "*** error: unknown command '/anything-else' (try /help)",
    ]
    alice.send("/help")
    help_lines = await alice.until(lambda line: "/quit" in line)
    assert all(line.startswith("*** ") for line in help_lines)
    alice.send("/quit")
    assert await alice.line() == "*** Bye Alice!"
    assert await alice.closed() == b""


async def test_addressing_rule_keeps_urls_and_times_public(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("http://example.com", "12:30 ok?", "Bob: //srv/share")
    expected = ["<John> http://example.com", "<John> 12:30 ok?", "<John> Bob: //srv/share"]
    assert await alice.lines(3) == expected
    assert await bob.lines(3) == expected


async def test_a_typo_in_a_name_delivers_nothing_to_anyone(server: ChatServer) -> None:
    alice, bob, john = await trio(server)
    john.send("Bbo: my password is hunter2")
    assert await john.line() == "*** error: no one called 'Bbo' is online; nothing was sent"
    john.send("john: note to self")
    assert await john.line() == "*** error: you cannot send a private message to yourself"
    await alice.quiet()
    await bob.quiet()
