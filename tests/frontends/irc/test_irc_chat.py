"""IRC clients in the same chat as line clients: real loopback sockets, a real server."""

from __future__ import annotations

import pytest
from ircsupport import IRC
from support import Client, StartServer

from asyncchat.edge.server import ChatServer


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server(irc_port=0, server_name="irc.test")


def irc_port(server: ChatServer) -> int:
    return server.port_of("irc")


async def test_registration_gives_the_welcome_burst_and_the_lobby(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    alice.send("NICK Alice", "USER alice 0 * :Alice Liddell")
    burst = await alice.until(lambda m: m.command == "366")
    commands = [m.command for m in burst]
    assert commands[:5] == ["001", "002", "003", "004", "005"]
    assert "422" in commands
    assert all(m.source == "irc.test" for m in burst if m.command.isdigit())
    isupport = " ".join(burst[4].params)
    for token in ("CASEMAPPING=rfc8265", "CHANTYPES=#", "NICKLEN=24", "NETWORK=asyncchat"):
        assert token in isupport
    join = next(m for m in burst if m.command == "JOIN")
    assert (join.source, join.params) == ("Alice!Alice@asyncchat", ("#lobby",))
    names = next(m for m in burst if m.command == "353")
    assert names.params[-1] == "Alice"


async def test_an_irc_user_and_a_line_user_hold_one_conversation(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    bob = await Client.join(server.port, "Bob")
    joined = await alice.message()
    assert (joined.source, joined.command, joined.params) == (
        "Bob!Bob@asyncchat",
        "JOIN",
        ("#lobby",),
    )
    alice.send("PRIVMSG #lobby :hello from irc", "PRIVMSG #lobby :\x01ACTION waves\x01")
    assert await bob.lines(2) == ["<Alice> hello from irc", "* Alice waves"]
    bob.send("hello from nc", "/me nods", "Alice: just you")
    public, action, private = [await alice.message() for _ in range(3)]
    assert (public.command, public.params) == ("PRIVMSG", ("#lobby", "hello from nc"))
    assert action.params == ("#lobby", "\x01ACTION nods\x01")
    assert (private.source, private.params) == ("Bob!Bob@asyncchat", ("Alice", "just you"))
    assert await bob.line() == "-> *Alice* just you"
    alice.send("PRIVMSG Bob :back to you")
    assert await bob.line() == "*Alice* back to you"
    bob.send("/nick Robert")
    renamed = await alice.message()
    assert (renamed.source, renamed.command, renamed.params) == (
        "Bob!Bob@asyncchat",
        "NICK",
        ("Robert",),
    )
    assert await bob.line() == "*** Bob is now Robert"
    alice.send("QUIT :off to bed")
    error = await alice.message()
    assert error.command == "ERROR"
    assert await alice.closed() == b""
    assert await bob.line() == "*** Alice left (quit: off to bed)"
