"""Regressions found in review of the IRC front end: room names that are not their
own keys, ISON as irssi and weechat send it, SASL bounds, a first line split by a
pause, odd targets echoed in numerics, the line protocol's hints."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from ircsupport import IRC, ask, summary
from support import Client, StartServer

from asyncchat.edge.server import ChatServer
from asyncchat.frontends.irc.connection import IRCConnection


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server(irc_port=0, server_name="irc.test")


def port(server: ChatServer) -> int:
    return server.port_of("irc")


def conn_of(server: ChatServer, nick: str) -> Any:
    for c in server.connections:
        if getattr(c, "session", None) is not None and c.session.name == nick:
            return c
    raise LookupError(nick)


# 1. NAMES/WHO of a channel whose key is not itself a valid room name
async def test_names_of_a_dotted_capital_i_channel(server: ChatServer) -> None:
    alice = await IRC.register(port(server), "Alice")
    await ask(alice, "JOIN #İstanbul")
    replies = await ask(alice, "NAMES #İstanbul")
    state = conn_of(server, "Alice").state
    lobby = await ask(alice, "NAMES #lobby")
    assert summary(replies)[-1] == ("366", "Alice", "#İstanbul", "End of /NAMES list")
    assert state.queries == []
    assert ("366", "Alice", "#lobby", "End of /NAMES list") in summary(lobby)


async def test_names_queries_grow_without_bound(server: ChatServer) -> None:
    alice = await IRC.register(port(server), "Alice")
    await ask(alice, "JOIN #" + "ß" * 24)
    for _ in range(5):
        await ask(alice, "WHO #" + "ß" * 24, "NAMES #" + "ß" * 24)
    state = conn_of(server, "Alice").state
    assert len(state.queries) == 0


async def test_join_0_leaves_a_dotted_capital_i_channel(server: ChatServer) -> None:
    alice = await IRC.register(port(server), "Alice")
    await ask(alice, "JOIN #İstanbul")
    await ask(alice, "JOIN 0")
    assert not conn_of(server, "Alice").session.rooms


# 2. SASL: no limit on the reassembled payload, no 905 for a too-long chunk
async def sasl_ready(server: ChatServer) -> IRC:
    c = await IRC.connect(port(server))
    c.send("CAP LS 302", "CAP REQ :sasl")
    await c.until(lambda m: m.command == "CAP" and "ACK" in m.params)
    c.send("AUTHENTICATE PLAIN")
    await c.until(lambda m: m.command == "AUTHENTICATE")
    return c


async def test_sasl_payload_is_bounded(start_server: StartServer) -> None:
    server = await start_server(irc_port=0, server_name="irc.test", rate=0)
    c = await sasl_ready(server)
    chunk = "A" * 400
    for _ in range(20):
        c.send(*[f"AUTHENTICATE {chunk}"] * 100)
    await ask(c, "CAP LIST")
    (conn,) = server.connections
    assert isinstance(conn, IRCConnection)
    held = len(conn._sasl or "")
    assert held <= 16 * 400


async def test_sasl_chunk_over_400_gets_905(server: ChatServer) -> None:
    c = await sasl_ready(server)
    replies = await ask(c, "AUTHENTICATE " + base64.b64encode(b"\0x\0" + b"y" * 300).decode())
    assert replies
    assert replies[0].command == "905"


# 3. ISON with a trailing list of nicks (irssi's notify list: ISON :a b c)
async def test_ison_trailing_list(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    alice = await IRC.register(port(server), "Alice")
    replies = await ask(alice, "ISON :Bob Carol Alice")
    assert summary(replies) == [("303", "Alice", "Bob Alice")]
    await bob.close() if hasattr(bob, "close") else None


# 4. An IRC first line cut by a pause (the line protocol's unterminated-line rule)
async def test_first_line_split_by_a_pause_is_not_cut(server: ChatServer) -> None:
    c = await IRC.connect(port(server))
    c.writer.write(b"NICK Al")
    await asyncio.sleep(0.5)  # the pause is what is tested: longer than the 300 ms rule
    c.send("ice", "USER alice 0 * :Alice")
    seen = await c.until(lambda m: m.command in ("001", "432", "433"))
    assert seen[-1].command == "001"
    assert seen[-1].params[0] == "Alice"


# 5. Odd inputs
async def test_empty_nick_before_registration_gets_431(server: ChatServer) -> None:
    c = await IRC.connect(port(server))
    replies = await ask(c, "USER a 0 * :A", "NICK :")
    assert replies
    assert replies[0].command == "431"


async def test_whois_with_a_spaced_trailing_nick_keeps_numeric_shape(server: ChatServer) -> None:
    alice = await IRC.register(port(server), "Alice")
    raw = []
    alice.send("WHOIS :a b")
    for _ in range(2):
        raw.append(await alice.raw())
    assert all(" 401 Alice a b " not in r for r in raw)


async def test_nick_to_a_registered_name_mentions_no_line_commands(server: ChatServer) -> None:
    owner = await Client.join(server.port, "Carol")
    owner.send("/register secret-words-1")
    await owner.line()
    owner.send("/quit")
    await owner.closed()
    alice = await IRC.register(port(server), "Alice")
    replies = await ask(alice, "NICK Carol")
    assert all("/identify" not in p for m in replies for p in m.params)
