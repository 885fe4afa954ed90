"""Operators over real loopback sockets: who may use the commands, /kick, /ban by name,
address and CIDR, expiry, /unban and /bans, /mute, /wall, persistence across a restart,
and a log line for every action."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from support import Client, StartServer

from asyncchat.edge.server import ChatServer

OP_PASSWORD = "op-password-1"
WELCOME = "*** Welcome to asyncchat! What is your name?"
QUESTION = "*** 'Op' is registered: send its password (or another name)"
OPERATOR_COMMANDS = (
    ("/kick Nobody", "kick"),
    ("/kick Nobody for a reason", "kick"),
    ("/ban Nobody 5 spam", "ban"),
    ("/ban 127.0.0.9", "ban"),
    ("/unban Nobody", "unban"),
    ("/bans", "bans"),
    ("/mute Nobody", "mute"),
    ("/mute Nobody 10", "mute"),
    ("/unmute Nobody", "unmute"),
    ("/wall hello everyone", "wall"),
)


class Clock:
    """A wall clock for the hub that moves only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def operator(start_server: StartServer, **settings: object) -> tuple[ChatServer, Client]:
    """A server with `--oper Op`, and Op connected, registered and so identified."""
    server = await start_server(oper=("Op",), **settings)
    op = await Client.join(server.port, "Op")
    op.send(f"/register {OP_PASSWORD}")
    assert await op.line() == "*** 'Op' is registered to you"
    return server, op


async def sign_in_op(port: int) -> Client:
    """Op after a restart: the name needs its password again."""
    op = await Client.connect(port)
    assert await op.line() == WELCOME
    op.send("Op")
    assert await op.line() == QUESTION
    op.send(OP_PASSWORD)
    hello = await op.line()
    assert hello.startswith("*** Hello Op!"), hello
    return op


async def arrive(port: int, name: str, source: str, watchers: Sequence[Client] = ()) -> Client:
    """`name` joins the lobby from `source`; each watcher (in the lobby) sees it join."""
    client = await Client.join(port, name, source=source)
    for watcher in watchers:
        seen = await watcher.line()
        assert seen.startswith(f"*** {name} joined ("), seen
    return client


async def refused_at_connect(port: int, source: str, expected: str) -> None:
    """A connection from `source` gets only `expected` (no welcome) and is closed."""
    client = await Client.connect(port, source=source)
    assert await client.line() == expected
    assert await client.closed() == b""


async def refused_at_naming(port: int, name: str, expected: str, source: str) -> None:
    """A connection asking for `name` gets `expected` and is closed."""
    client = await Client.connect(port, source=source)
    assert await client.line() == WELCOME
    client.send(name)
    assert await client.line() == expected
    assert await client.closed() == b""


async def bans(op: Client) -> list[str]:
    """What /bans answers, every line of it."""
    op.send("/bans")
    first = await op.line()
    if first == "*** no one is banned":
        return [first]
    assert first.startswith("*** Bans ("), first
    count = int(first.removeprefix("*** Bans (").removesuffix("):"))
    return [first, *await op.lines(count)]


async def test_only_identified_operators_may_use_operator_commands(
    start_server: StartServer,
) -> None:
    server = await start_server(oper=("Op",))
    op = await Client.join(server.port, "Op")  # named in --oper, but not identified
    alice = await arrive(server.port, "Alice", "127.0.0.2", [op])
    alice.send("/register alice-password")  # identified, but not named in --oper
    assert await alice.line() == "*** 'Alice' is registered to you"
    for client in (op, alice):
        for line, word in OPERATOR_COMMANDS:
            client.send(line)
            assert await client.line() == f"*** error: only operators can use /{word}", line
        client.send("/help")
        listed = await client.until(lambda line: line.startswith("***   /quit"))
        await client.quiet()
        assert listed[0] == "*** Commands:"
        assert not [line for line in listed if "Operator" in line or "/kick" in line]
    # None of that did anything: no ban, no mute, no notice.
    op.send(f"/register {OP_PASSWORD}")
    assert await op.line() == "*** 'Op' is registered to you"
    assert await bans(op) == ["*** no one is banned"]
    alice.send("still here")
    assert await op.line() == "<Alice> still here"
    await alice.quiet()

    op.send("/help")
    listed = await op.until(lambda line: line.startswith("***   /wall"))
    await op.quiet()
    heading = listed.index("*** Operator commands:")
    assert listed[heading - 1].startswith("***   /quit")
    words = [line.split()[1] for line in listed[heading + 1 :]]
    assert words == ["/kick", "/ban", "/unban", "/bans", "/mute", "/unmute", "/wall"]


async def test_kick_closes_the_user_and_tells_their_room(start_server: StartServer) -> None:
    server, op = await operator(start_server)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])

    op.send("/kick Bob spamming links")
    assert await bob.line() == "*** you were kicked by Op: spamming links"
    assert await bob.closed() == b""
    assert await carol.line() == "*** Bob left (kicked by Op: spamming links)"
    assert await op.line() == "*** Bob left (kicked by Op: spamming links)"
    await op.quiet()  # the room saw it: no separate notice for the operator

    op.send("/kick Op")
    assert await op.line() == "*** error: you cannot kick yourself"
    op.send("/kick bob")
    assert await op.line() == "*** error: no one called 'bob' is online"
    op.send("/kick Nobody at all")
    assert await op.line() == "*** error: no one called 'Nobody' is online"

    # In another room, without a reason: the operator is told it happened.
    carol.send("/join side")
    assert await carol.line() == "*** Now in #side (1 here): Carol"
    assert await op.line() == "*** Carol left (moved to another room)"
    op.send("/kick CAROL")
    assert await carol.line() == "*** you were kicked by Op"
    assert await carol.closed() == b""
    assert await op.line() == "*** Carol removed (kicked)"
    await op.quiet()

    # A kick is not a ban: Bob may come straight back.
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    await bob.quiet()


async def test_a_banned_name_is_removed_and_kept_out_in_any_case(
    start_server: StartServer,
) -> None:
    server, op = await operator(start_server)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    bob.send("/register bob-password-1")
    assert await bob.line() == "*** 'Bob' is registered to you"
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])

    op.send("/ban Op")
    assert await op.line() == "*** error: you cannot ban yourself"
    op.send("/ban Bob flooding the room")
    assert await bob.line() == "*** error: you are banned by Op: flooding the room"
    assert await bob.closed() == b""
    assert await carol.line() == "*** Bob left (banned by Op: flooding the room)"
    assert await op.lines(2) == [
        "*** Bob left (banned by Op: flooding the room)",
        "*** banned Bob: flooding the room; 1 removed",
    ]

    # At naming, before any password question, in any case.
    banned = "*** error: you are banned: flooding the room"
    for name in ("Bob", "bob", "BOB"):
        await refused_at_naming(server.port, name, banned, "127.0.0.4")
    carol.send("/nick BOB")
    assert await carol.line() == "*** error: the name 'BOB' is banned"
    carol.send("/identify Bob bob-password-1")
    assert await carol.line() == "*** error: the name 'Bob' is banned"
    assert await bans(op) == [
        "*** Bans (1):",
        "***   Bob (name) by Op, until /unban: flooding the room",
    ]

    op.send("/unban bob")
    assert await op.line() == "*** Bob is no longer banned"
    op.send("/unban bob")
    assert await op.line() == "*** error: there is no ban on 'bob' (/bans lists them)"
    op.send("/unban Nobody")
    assert await op.line() == "*** error: there is no ban on 'Nobody' (/bans lists them)"
    assert await bans(op) == ["*** no one is banned"]
    back = await Client.connect(server.port, source="127.0.0.2")
    assert await back.line() == WELCOME
    back.send("bob")
    assert await back.line() == "*** 'Bob' is registered: send its password (or another name)"
    back.send("bob-password-1")
    assert (await back.line()).startswith("*** Hello Bob!")
    assert await carol.line() == "*** Bob joined (3 online)"
    await op.until(lambda line: line.startswith("*** Bob joined"))
    await op.quiet()


async def test_address_and_cidr_bans(start_server: StartServer) -> None:
    server, op = await operator(start_server)  # Op comes from 127.0.0.1
    mallory = await arrive(server.port, "Mallory", "127.0.0.5", [op])
    bob = await arrive(server.port, "Bob", "127.0.0.9", [op, mallory])
    unnamed = await Client.connect(server.port, source="127.0.0.6")
    assert await unnamed.line() == WELCOME

    for target in ("127.0.0.1", "127.0.0.0/8", "127.0.0.0/31", "::ffff:127.0.0.1"):
        op.send(f"/ban {target} oops")
        answer = await op.line()
        assert answer.startswith("*** error: a ban on "), answer
        assert answer.endswith(" would cover your own address"), answer
    op.send("/ban what?! now")
    assert await op.line() == (
        "*** error: 'what?!' is not a name, an address or a CIDR (like 10.0.0.0/8)"
    )
    assert await bans(op) == ["*** no one is banned"]

    op.send("/ban 127.0.0.4/30 spam bots")  # .4 to .7
    assert await mallory.line() == "*** error: you are banned by Op: spam bots"
    assert await mallory.closed() == b""
    assert await unnamed.line() == "*** error: you are banned by Op: spam bots"
    assert await unnamed.closed() == b""
    assert await bob.line() == "*** Mallory left (banned by Op: spam bots)"
    assert await op.lines(3) == [
        "*** Mallory left (banned by Op: spam bots)",
        "*** a connection removed (banned)",
        "*** banned 127.0.0.4/30: spam bots; 2 removed",
    ]
    for source in ("127.0.0.4", "127.0.0.6", "127.0.0.7"):
        await refused_at_connect(server.port, source, "*** error: you are banned: spam bots")
    outside = await arrive(server.port, "Outside", "127.0.0.8", [op, bob])

    op.send("/ban 127.0.0.10")  # one address, no reason
    assert await op.line() == "*** banned 127.0.0.10"
    await refused_at_connect(server.port, "127.0.0.10", "*** error: you are banned")
    assert await bans(op) == [
        "*** Bans (2):",
        "***   127.0.0.4/30 (network) by Op, until /unban: spam bots",
        "***   127.0.0.10 (network) by Op, until /unban",
    ]

    op.send("/unban 127.0.0.5")  # an address inside the CIDR is not the CIDR's ban
    assert await op.line() == "*** error: there is no ban on '127.0.0.5' (/bans lists them)"
    op.send("/unban 127.0.0.4/30")
    assert await op.line() == "*** 127.0.0.4/30 is no longer banned"
    op.send("/unban 127.0.0.10")
    assert await op.line() == "*** 127.0.0.10 is no longer banned"
    assert await bans(op) == ["*** no one is banned"]
    again = await arrive(server.port, "Mallory", "127.0.0.5", [op, bob, outside])
    await again.quiet()


async def test_bans_with_minutes_expire(start_server: StartServer) -> None:
    server, op = await operator(start_server)
    clock = Clock()
    server.hub._clock = clock  # the hub reads its wall clock through this
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])

    op.send("/ban Bob 10 cool off")
    assert await bob.line() == "*** error: you are banned by Op: cool off"
    assert await bob.closed() == b""
    assert await op.lines(2) == [
        "*** Bob left (banned by Op: cool off)",
        "*** banned Bob for 10 minutes: cool off; 1 removed",
    ]
    clock.advance(1)
    op.send("/ban 127.0.0.20/31 5")
    assert await op.line() == "*** banned 127.0.0.20/31 for 5 minutes"
    clock.advance(1)
    op.send("/ban Carol 2 later")
    assert await op.line() == "*** banned Carol for 2 minutes: later"
    assert await bans(op) == [
        "*** Bans (3):",
        "***   Bob (name) by Op, 10 more minutes: cool off",
        "***   127.0.0.20/31 (network) by Op, 5 more minutes",
        "***   Carol (name) by Op, 2 more minutes: later",
    ]
    await refused_at_connect(server.port, "127.0.0.21", "*** error: you are banned")
    await refused_at_naming(server.port, "carol", "*** error: you are banned: later", "127.0.0.3")

    clock.advance(5 * 60)  # past the network's and Carol's ends, not Bob's
    left = math.ceil((10 * 60 - 5 * 60 - 2) / 60)
    assert await bans(op) == [
        "*** Bans (1):",
        f"***   Bob (name) by Op, {left} more minutes: cool off",
    ]
    net = await arrive(server.port, "Net", "127.0.0.21", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, net])
    await refused_at_naming(server.port, "Bob", "*** error: you are banned: cool off", "127.0.0.2")

    clock.advance(5 * 60)  # past Bob's end too
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op, net, carol])
    assert await bans(op) == ["*** no one is banned"]
    op.send("/unban Bob")
    assert await op.line() == "*** error: there is no ban on 'Bob' (/bans lists them)"
    await bob.quiet()


async def test_a_muted_user_may_not_speak_in_rooms(start_server: StartServer) -> None:
    server, op = await operator(start_server)
    clock = Clock()
    server.hub._clock = clock
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])

    op.send("/mute Op")
    assert await op.line() == "*** error: you cannot mute yourself"
    op.send("/mute bob 15")
    assert await op.line() == "*** muted Bob for 15 minutes"
    assert await bob.line() == "*** you are muted by Op for 15 minutes"
    for line in ("hello all", "/me waves", "/all Carol: public anyway", "//slash"):
        bob.send(line)
        assert await bob.line() == "*** error: you are muted", line
    bob.send("/nick Robert")
    assert await bob.line() == "*** error: you are muted; you cannot change names"
    await carol.quiet()  # nothing of it reached anyone
    await op.quiet()

    # Private messages still work, both ways.
    bob.send("Carol: psst")
    assert await bob.line() == "-> *Carol* psst"
    assert await carol.line() == "*Bob* psst"
    bob.send("/msg Op why?")
    assert await bob.line() == "-> *Op* why?"
    assert await op.line() == "*Bob* why?"
    carol.send("/reply hang in there")
    assert await bob.line() == "*Carol* hang in there"
    assert await carol.line() == "-> *Bob* hang in there"

    # The mute is on the name: leaving and coming back does not lift it.
    bob.send("/quit")
    assert await bob.line() == "*** Bye Bob!"
    assert await bob.closed() == b""
    assert await carol.line() == "*** Bob left"
    assert await op.line() == "*** Bob left"
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op, carol])
    bob.send("I am back")
    assert await bob.line() == "*** error: you are muted"

    op.send("/unmute BOB")
    assert await op.line() == "*** Bob is no longer muted"
    op.send("/unmute Bob")
    assert await op.line() == "*** error: 'Bob' is not muted"
    bob.send("thanks")
    assert await carol.line() == "<Bob> thanks"
    assert await op.line() == "<Bob> thanks"

    # An offline name can be muted too; a timed mute ends by itself.
    op.send("/mute Zed 3")
    assert await op.line() == "*** muted Zed for 3 minutes"
    zed = await arrive(server.port, "Zed", "127.0.0.4", [op, bob, carol])
    assert (await zed.until(lambda line: line.startswith("*** End of recent")))[-1] == (
        "*** End of recent messages in #lobby"
    )
    zed.send("/me tries")
    assert await zed.line() == "*** error: you are muted"
    zed.send("/nick Zebedee")
    assert await zed.line() == "*** error: you are muted; you cannot change names"
    clock.advance(3 * 60)
    zed.send("/me talks at last")
    assert await carol.line() == "* Zed talks at last"
    zed.send("/nick Zebedee")
    assert await zed.line() == "*** Zed is now Zebedee"
    assert await carol.line() == "*** Zed is now Zebedee"
    await zed.quiet()


async def test_wall_reaches_every_named_user_in_every_room(start_server: StartServer) -> None:
    server, op = await operator(start_server)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])
    dave = await arrive(server.port, "Dave", "127.0.0.4", [op, bob, carol])
    carol.send("/join side")
    assert await carol.line() == "*** Now in #side (1 here): Carol"
    assert await dave.line() == "*** Carol left (moved to another room)"
    dave.send("/join side")
    assert await dave.line() == "*** Now in #side (2 here): Carol, Dave"
    await op.until(lambda line: line == "*** Dave left (moved to another room)")
    await bob.until(lambda line: line == "*** Dave left (moved to another room)")
    assert await carol.line() == "*** Dave joined (2 here)"
    unnamed = await Client.connect(server.port, source="127.0.0.5")
    assert await unnamed.line() == WELCOME

    op.send("/wall the server restarts at noon")
    for client in (op, bob, carol, dave):
        assert await client.line() == "*** notice from Op: the server restarts at noon"
        await client.quiet()
    unnamed.send("Eve")  # still naming: the notice was not for it
    assert (await unnamed.line()).startswith("*** Hello Eve!")
    assert await op.line() == "*** Eve joined (3 online)"
    op.send("/wall")
    assert await op.line() == "*** error: usage: /wall message"


async def test_bans_and_mutes_survive_a_restart(tmp_path: Path, start_server: StartServer) -> None:
    db = str(tmp_path / "chat.db")
    server, op = await operator(start_server, db=db)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    op.send("/ban Bob rude")
    assert await bob.line() == "*** error: you are banned by Op: rude"
    await op.until(lambda line: line.startswith("*** banned Bob"))
    op.send("/ban 127.0.0.4/30")
    assert await op.line() == "*** banned 127.0.0.4/30"
    op.send("/ban Eve 30 wait")
    assert await op.line() == "*** banned Eve for 30 minutes: wait"
    op.send("/mute Carol")
    assert await op.line() == "*** muted Carol"
    op.send("/mute Dave 60")
    assert await op.line() == "*** muted Dave for 60 minutes"
    await server.shutdown()
    assert await op.closed() == b"*** server is shutting down\r\n"

    server = await start_server(db=db, oper=("Op",))
    visitor = await Client.join(server.port, "Visitor")
    visitor.send("/bans")  # operator rights come with signing in, not with a name
    assert await visitor.line() == "*** error: only operators can use /bans"
    op = await sign_in_op(server.port)
    assert await visitor.line() == "*** Op joined (2 online)"
    listed = await bans(op)
    assert listed == [
        "*** Bans (3):",
        "***   Bob (name) by Op, until /unban: rude",
        "***   127.0.0.4/30 (network) by Op, until /unban",
        "***   Eve (name) by Op, 30 more minutes: wait",
    ]
    await refused_at_naming(server.port, "bob", "*** error: you are banned: rude", "127.0.0.2")
    await refused_at_naming(server.port, "Eve", "*** error: you are banned: wait", "127.0.0.2")
    await refused_at_connect(server.port, "127.0.0.5", "*** error: you are banned")
    carol = await arrive(server.port, "Carol", "127.0.0.3", [visitor, op])
    dave = await arrive(server.port, "Dave", "127.0.0.8", [visitor, op, carol])
    for client in (carol, dave):
        client.send("can I talk?")
        assert await client.line() == "*** error: you are muted"

    op.send("/unban Bob")
    assert await op.line() == "*** Bob is no longer banned"
    op.send("/unmute Carol")
    assert await op.line() == "*** Carol is no longer muted"
    await server.shutdown()

    # What was lifted stays lifted; the rest stays.
    server = await start_server(db=db, oper=("Op",))
    op = await sign_in_op(server.port)
    assert await bans(op) == [
        "*** Bans (2):",
        "***   127.0.0.4/30 (network) by Op, until /unban",
        "***   Eve (name) by Op, 30 more minutes: wait",
    ]
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])
    dave = await arrive(server.port, "Dave", "127.0.0.8", [op, bob, carol])
    carol.send("yes")
    for client in (op, bob, dave):
        assert await client.line() == "<Carol> yes"
    dave.send("still muted?")
    assert await dave.line() == "*** error: you are muted"
    await bob.quiet()


async def test_every_operator_action_is_logged_with_who_did_it(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server, op = await operator(start_server)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    carol = await arrive(server.port, "Carol", "127.0.0.3", [op, bob])
    op.send("/kick Bob go away")
    assert await op.line() == "*** Bob left (kicked by Op: go away)"
    op.send("/ban Carol 5 enough")
    await op.until(lambda line: line.startswith("*** banned Carol"))
    op.send("/ban 127.0.0.64/26 bots")
    assert await op.line() == "*** banned 127.0.0.64/26: bots"
    op.send("/unban Carol", "/unban 127.0.0.64/26")
    assert await op.lines(2) == [
        "*** Carol is no longer banned",
        "*** 127.0.0.64/26 is no longer banned",
    ]
    op.send("/mute Dave 7", "/unmute Dave", "/wall maintenance soon")
    assert await op.lines(3) == [
        "*** muted Dave for 7 minutes",
        "*** Dave is no longer muted",
        "*** notice from Op: maintenance soon",
    ]
    await op.quiet()
    assert await carol.line() == "*** Bob left (kicked by Op: go away)"
    messages = [record.getMessage() for record in caplog.records]
    for expected in (
        "operator Op kicked Bob (go away)",
        "operator Op banned Carol for 5 minutes (enough)",
        "operator Op banned 127.0.0.64/26 (bots)",
        "operator Op unbanned Carol",
        "operator Op unbanned 127.0.0.64/26",
        "operator Op muted Dave for 7 minutes",
        "operator Op unmuted Dave",
        "operator Op to everyone: maintenance soon",
    ):
        assert expected in messages, (expected, messages)


async def test_usage_errors_and_the_limit_on_bans_and_mutes(start_server: StartServer) -> None:
    _server, op = await operator(start_server, max_bans=1)
    for line, answer in (
        ("/kick", "usage: /kick NAME [reason]"),
        ("/ban", "usage: /ban NAME|ADDRESS|CIDR [minutes] [reason]"),
        ("/ban Eve 0", "minutes must be between 1 and 5256000 (leave them out: forever)"),
        ("/unban", "usage: /unban NAME|ADDRESS|CIDR"),
        ("/mute Eve 5 too many words", "usage: /mute NAME [minutes]"),
        ("/mute what?!", "'what?!' is not a valid name"),
        ("/unmute", "usage: /unmute NAME"),
    ):
        op.send(line)
        assert await op.line() == f"*** error: {answer}", line
    assert await bans(op) == ["*** no one is banned"]

    op.send("/ban Eve 5", "/ban eve 10 changed my mind", "/ban Zed")
    assert await op.lines(3) == [
        "*** banned Eve for 5 minutes",
        "*** banned eve for 10 minutes: changed my mind",  # the same name: replaced
        "*** error: there are 1 bans already (--max-bans); /unban some first",
    ]
    op.send("/mute Eve", "/mute EVE 3", "/mute Zed")
    assert await op.lines(3) == [
        "*** muted Eve",
        "*** muted EVE for 3 minutes",
        "*** error: there are 1 mutes already (--max-bans); /unmute some first",
    ]
    assert await bans(op) == [
        "*** Bans (1):",
        "***   eve (name) by Op, 10 more minutes: changed my mind",
    ]


async def test_a_name_banned_while_its_password_is_asked_stays_out(
    start_server: StartServer,
) -> None:
    server, op = await operator(start_server)
    bob = await arrive(server.port, "Bob", "127.0.0.2", [op])
    bob.send("/register bob-password-1")
    assert await bob.line() == "*** 'Bob' is registered to you"
    await bob.close()
    assert await op.line() == "*** Bob left (connection closed)"
    again = await Client.connect(server.port, source="127.0.0.2")
    assert await again.line() == WELCOME
    again.send("Bob")
    assert await again.line() == "*** 'Bob' is registered: send its password (or another name)"
    op.send("/ban Bob troll")  # while Bob types the password
    assert await op.line() == "*** banned Bob: troll"
    again.send("bob-password-1")
    assert await again.line() == "*** error: you are banned: troll"
    assert await again.closed() == b""


@pytest.mark.parametrize(("command", "done"), [("ban", "banned"), ("mute", "muted")])
async def test_an_expired_ban_or_mute_frees_its_place_under_max_bans(
    start_server: StartServer, command: str, done: str
) -> None:
    server, op = await operator(start_server, max_bans=1)
    clock = Clock()
    server.hub._clock = clock
    op.send(f"/{command} Eve 1")
    assert await op.line() == f"*** {done} Eve for 1 minute"
    clock.advance(2 * 60)
    op.send(f"/{command} Zed")
    assert await op.line() == f"*** {done} Zed"


async def test_a_network_ban_can_be_changed_at_max_bans(start_server: StartServer) -> None:
    _server, op = await operator(start_server, max_bans=1)
    op.send("/ban 127.0.0.4/30 spam")
    assert await op.line() == "*** banned 127.0.0.4/30: spam"
    op.send("/ban 127.0.0.4/30 60 spam, for an hour")
    assert await op.line() == "*** banned 127.0.0.4/30 for 60 minutes: spam, for an hour"
