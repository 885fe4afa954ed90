"""IRC clients in the same chat as line clients: real loopback sockets, a real server."""

from __future__ import annotations

import asyncio
import base64

import pytest
from ircsupport import IRC
from support import Client, StartServer, flood_until_cut

from asyncchat.edge.server import ChatServer
from asyncchat.frontends.irc.message import Message


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


async def test_topics_are_one_for_both_protocols(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice", caps="away-notify")
    bob = await Client.join(server.port, "Bob")
    await alice.message()  # Bob's JOIN
    bob.send("/topic")
    assert await bob.line() == "*** #lobby has no topic (/topic TEXT sets one)"
    alice.send("TOPIC #lobby :plans for the weekend")
    assert await bob.line() == "*** Alice set the topic of #lobby: plans for the weekend"
    changed = await alice.message()
    assert (changed.source, changed.command, changed.params) == (
        "Alice!Alice@asyncchat",
        "TOPIC",
        ("#lobby", "plans for the weekend"),
    )
    carol = await Client.connect(server.port)
    await carol.line()
    carol.send("Carol")
    assert (await carol.line()).startswith("*** Hello Carol!")
    assert await carol.line() == "*** Topic of #lobby: plans for the weekend"
    bob.send("/topic a new plan")
    topic = await alice.until(lambda m: m.command == "TOPIC")
    assert topic[-1].params == ("#lobby", "a new plan")
    alice.send("TOPIC #lobby")
    assert (await alice.message()).params[1:] == ("#lobby", "a new plan")
    dave = await IRC.connect(irc_port(server))
    dave.send("NICK Dave", "USER dave 0 * :Dave")
    burst = await dave.until(lambda m: m.command == "366")
    assert [m.params[1:] for m in burst if m.command == "332"] == [("#lobby", "a new plan")]
    # away-notify: Alice asked for it and hears Bob go away and come back.
    bob.send("/away lunch", "/away")
    seen = await alice.until(lambda m: m.command == "AWAY" and not m.params)
    away, back = [m for m in seen if m.command == "AWAY"]
    assert (away.source, away.params) == ("Bob!Bob@asyncchat", ("lunch",))
    assert back.source == "Bob!Bob@asyncchat"
    said = await bob.until(lambda line: line == "*** you are back")
    assert said[-2:] == [
        "*** you are away: lunch (/away alone when you are back)",
        "*** you are back",
    ]
    assert not any("AWAY" in line for line in said)  # line users are not told


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def sasl_client(port: int, account: str, password: str) -> tuple[IRC, list[Message]]:
    """CAP LS 302, REQ sasl, AUTHENTICATE PLAIN: what the server answered."""
    client = await IRC.connect(port)
    client.send("CAP LS 302")
    listed = await client.message()
    assert "sasl=PLAIN" in listed.params[-1].split()
    client.send("CAP REQ :sasl")
    assert (await client.message()).params[1:] == ("ACK", "sasl")
    client.send("AUTHENTICATE PLAIN")
    assert (await client.message()).params == ("+",)
    client.send(f"AUTHENTICATE {plain(account, password)}")
    answer = await client.until(lambda m: m.command in ("903", "904"))
    return client, answer


async def test_sasl_plain_signs_in_to_an_account(server: ChatServer) -> None:
    owner = await Client.join(server.port, "Sasha")
    owner.send("/register secret-words-1")
    assert await owner.line() == "*** 'Sasha' is registered to you"
    client, answer = await sasl_client(irc_port(server), "Sasha", "wrong-words")
    assert [m.command for m in answer] == ["904"]
    client, answer = await sasl_client(irc_port(server), "sasha", "secret-words-1")
    assert [m.command for m in answer] == ["900", "903"]
    assert answer[0].params[2] == "Sasha"
    client.send("NICK Sasha", "USER sasha 0 * :Sasha", "CAP END")
    burst = await client.until(lambda m: m.command == "366")
    assert burst[0].command == "001"  # no password question: SASL signed it in
    assert await owner.line() == "*** signed in elsewhere"  # and the ghost was taken over
    other, answer = await sasl_client(irc_port(server), "Sasha", "secret-words-1")
    other.send("NICK Sasha2", "USER s 0 * :S", "CAP END")
    await other.until(lambda m: m.command == "366")
    other.send("WHOIS Sasha2")
    whois = await other.until(lambda m: m.command == "318")
    assert [m.params[2] for m in whois if m.command == "330"] == ["Sasha"]


async def test_a_slow_irc_reader_is_cut_off_like_any_other(start_server: StartServer) -> None:
    server = await start_server(irc_port=0, max_sendq=64 * 1024, rate=0)
    sender = await Client.join(server.port, "Sender")
    slow = await IRC.register(irc_port(server), "Slow")
    assert await sender.line() == "*** Slow joined (2 online)"
    transport = slow.writer.transport
    assert isinstance(transport, asyncio.Transport)
    transport.pause_reading()
    # At most 10 MB, far past any kernel buffer.
    await flood_until_cut(sender, "Slow", per_round=50, rounds=200, seconds=20)
    assert server.hub.find("slow") is None


async def test_client_tags_reach_those_who_asked_for_message_tags(server: ChatServer) -> None:
    tagged = await IRC.register(irc_port(server), "Tagger", caps="message-tags echo-message")
    reader = await IRC.register(irc_port(server), "Reader", caps="message-tags")
    plain = await IRC.register(irc_port(server), "Plain")
    line_user = await Client.join(server.port, "Liner")
    for client in (tagged, reader, plain):
        await client.until(lambda m: m.command == "JOIN" and m.source == "Liner!Liner@asyncchat")
    tagged.send("@+draft/reply=abc;+example.com/x=1\\s2;time=forged PRIVMSG #lobby :tagged line")
    got = await reader.until(lambda m: m.command == "PRIVMSG")
    assert got[-1].tags == {"+draft/reply": "abc", "+example.com/x": "1 2"}  # no forged time
    echoed = await tagged.until(lambda m: m.command == "PRIVMSG")
    assert echoed[-1].tags == {"+draft/reply": "abc", "+example.com/x": "1 2"}
    got = await plain.until(lambda m: m.command == "PRIVMSG")
    assert got[-1].tags == {}
    assert await line_user.line() == "<Tagger> tagged line"
    # TAGMSG: labels alone (a typing notice) to a channel and to a nick.
    tagged.send("@+typing=active TAGMSG #lobby", "@+typing=paused TAGMSG Reader")
    first = await reader.until(lambda m: m.command == "TAGMSG")
    second = await reader.until(lambda m: m.command == "TAGMSG")
    assert (first[-1].params, first[-1].tags) == (("#lobby",), {"+typing": "active"})
    assert (second[-1].params, second[-1].tags) == (("Reader",), {"+typing": "paused"})
    assert [m.command for m in await plain.sync()] == []  # without message-tags: nothing
    await line_user.quiet()  # the line protocol shows no labels
