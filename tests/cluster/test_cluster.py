"""Several daemons, one chat: nc users on different nodes of a cluster over a
real redis-server (started by the fixtures on a free loopback port)."""

from __future__ import annotations

import asyncio

import pytest
from clustersupport import RedisServer, needs_redis
from redis.asyncio import Redis
from support import Client, StartServer

from asyncchat.edge.server import ChatServer

pytestmark = needs_redis
ROOMS = ("first", "second", "third")


async def alice_and_bob(node: StartServer) -> tuple[ChatServer, ChatServer, Client, Client]:
    """Two nodes, Alice on the first and Bob on the second; Alice saw Bob arrive."""
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    return a, b, alice, bob


async def test_users_on_two_nodes_chat_publicly_and_privately(node: StartServer) -> None:
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    bob.send("hello from B")
    assert await alice.line() == "<Bob> hello from B"
    alice.send("hello from A")
    assert await bob.line() == "<Alice> hello from A"
    alice.send("Bob: just for you")
    assert await alice.line() == "-> *Bob* just for you"
    assert await bob.line() == "*Alice* just for you"
    bob.send("/reply and back")
    assert await bob.line() == "-> *Alice* and back"
    assert await alice.line() == "*Bob* and back"
    bob.send("/me waves")
    assert await alice.line() == "* Bob waves"
    alice.send("/who")
    assert await alice.line() == "*** Online (2): Alice, Bob"


async def test_three_nodes_see_each_room_and_only_their_rooms(node: StartServer) -> None:
    a, b, c = await node(), await node(), await node()
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    carol = await Client.join(c.port, "Carol")
    await alice.until(lambda line: line.startswith("*** Carol joined"))
    await bob.until(lambda line: line.startswith("*** Carol joined"))
    bob.send("/join #side")
    assert (await bob.line()).startswith("*** Now in #side (1 here)")
    assert await alice.line() == "*** Bob left (moved to another room)"
    assert await carol.line() == "*** Bob left (moved to another room)"
    carol.send("/join #side")
    assert (await carol.line()).startswith("*** Now in #side (2 here)")
    assert await bob.line() == "*** Carol joined (2 here)"
    assert await alice.line() == "*** Carol left (moved to another room)"
    carol.send("only #side hears this")
    assert await bob.line() == "<Carol> only #side hears this"
    alice.send("/rooms")
    rooms = await alice.until(lambda line: "#side" in line)
    assert any("#side" in line and "2" in line for line in rooms), rooms
    alice.send("lobby only")
    await alice.quiet()
    bob.send("/who")
    assert await bob.line() == "*** Online (2): Bob, Carol"
    carol.send("Alice: across rooms and nodes")
    assert await alice.line() == "*Carol* across rooms and nodes"


async def test_a_name_taken_on_one_node_is_refused_on_another(node: StartServer) -> None:
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    other = await Client.connect(b.port)
    await other.line()
    other.send("alice")
    assert await other.line() == "*** error: the name 'alice' is taken"
    await other.line()
    other.send("\u0410lice")  # a Cyrillic A: the same skeleton
    assert await other.line() == "*** error: '\u0410lice' looks too much like 'Alice'"
    await other.line()
    alice.send("/quit")
    await alice.closed()
    # Freed in the transaction that wrote the leave: when B shows it, the name is free.
    await bob.until("*** Alice left".__eq__)
    other.send("alice")
    assert (await other.line()).startswith("*** Hello alice!")


async def test_a_rename_is_seen_everywhere_and_frees_the_old_name(node: StartServer) -> None:
    _a, b, alice, bob = await alice_and_bob(node)
    alice.send("/nick Alicia")
    assert await alice.line() == "*** Alice is now Alicia"
    assert await bob.line() == "*** Alice is now Alicia"
    bob.send("Alicia: found you")
    assert await bob.line() == "-> *Alicia* found you"
    assert await alice.line() == "*Bob* found you"
    carol = await Client.join(b.port, "Alice")
    assert await alice.line() == "*** Alice joined (3 online)"
    bob.send("/nick Alicia")
    assert (await bob.until(lambda line: "error" in line))[-1] == (
        "*** error: the name 'Alicia' is taken"
    )
    await carol.quiet()


async def test_topic_and_away_cross_nodes(node: StartServer) -> None:
    _a, b, alice, bob = await alice_and_bob(node)
    alice.send("/topic all about nodes")
    assert await bob.line() == "*** Alice set the topic of #lobby: all about nodes"
    await alice.line()
    bob.send("/away lunch")
    await bob.line()
    bob.send("back soon")  # after the away state in the log: A has it when this arrives
    assert await alice.line() == "<Bob> back soon"
    alice.send("Bob: there?")
    assert await alice.until(lambda line: "away" in line) == [
        "-> *Bob* there?",
        "*** Bob is away: lunch",
    ]
    alice.send("/who")
    assert await alice.line() == "*** Online (2): Alice, Bob (away)"
    carol = await Client.connect(b.port)
    await carol.line()
    carol.send("Carol")
    hello = await carol.until(lambda line: "topic" in line.lower())
    assert any("all about nodes" in line for line in hello), hello


async def test_per_room_order_is_one_order_under_concurrent_senders(node: StartServer) -> None:
    a, b = await node(rate=0), await node(rate=0)
    senders = [await Client.join(a.port, "SendA"), await Client.join(b.port, "SendB")]
    readers = [await Client.join(a.port, "ReadA"), await Client.join(b.port, "ReadB")]
    await readers[0].until("*** ReadB joined (4 online)".__eq__)
    count = 300

    async def send(sender: Client, name: str) -> None:
        for start in range(0, count, 10):  # a pong between chunks lets the other go on
            sender.send(*(f"{name} {i}" for i in range(start, start + 10)), f"/ping {start}")
            await sender.until(f"*** pong {start}".__eq__)

    await asyncio.gather(send(senders[0], "A"), send(senders[1], "B"))
    seen = []
    for reader in readers:
        lines = [await reader.line() for _ in range(2 * count)]
        seen.append(lines)
    assert seen[0] == seen[1]
    for name in ("A", "B"):
        mine = [line for line in seen[0] if line.startswith(f"<Send{name}>")]
        assert mine == [f"<Send{name}> {name} {i}" for i in range(count)]
    switches = sum(x[:6] != y[:6] for x, y in zip(seen[0], seen[0][1:], strict=False))
    assert switches > 1, f"the senders never overlapped ({switches}): nothing was tested"


async def test_history_written_on_one_node_is_shown_on_another_after_both_restart(
    node: StartServer,
) -> None:
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    alice.send("/join #kept", "first words", "second words", "/ping written")
    await alice.until("*** pong written".__eq__)
    await a.shutdown()
    await b.shutdown()
    a, b = await node(), await node()
    bob = await Client.join(b.port, "Bob")
    bob.send("/join #kept")
    lines = await bob.until(lambda line: line.startswith("*** End of recent messages"))
    said = [line for line in lines if "words" in line]
    assert [line.split("> ", 1)[1] for line in said] == ["first words", "second words"], lines


@pytest.mark.parametrize("who", ["kick", "ban", "mute"])
async def test_an_operator_on_one_node_acts_on_a_user_on_another(
    node: StartServer, who: str
) -> None:
    a, b = await node(oper=("Op",)), await node(oper=("Op",))
    op = await register_operator(a.port)
    op.send("/identify sesame-open-42")
    await op.until(lambda line: "identified" in line or "already" in line)
    mallory = await Client.join(b.port, "Mallory")
    await op.until(lambda line: line.startswith("*** Mallory joined"))
    if who == "mute":
        op.send("/mute Mallory")
        await op.until(lambda line: "muted Mallory" in line)
        assert "muted by Op" in await mallory.line()
        mallory.send("still talking")
        assert await mallory.line() == "*** error: you are muted"
        return
    op.send(f"/{who} Mallory spam")
    assert (await op.until(lambda line: "Mallory left" in line))[-1] == (
        f"*** Mallory left ({'kicked' if who == 'kick' else 'banned'} by Op: spam)"
    )
    await mallory.closed()
    again = await Client.connect(b.port)
    await again.line()
    again.send("Mallory")
    answer = await again.line()
    if who == "ban":
        assert answer == "*** error: you are banned: spam"
    else:
        assert answer.startswith("*** Hello Mallory!")


async def test_an_account_registered_on_one_node_is_asked_for_on_another(
    node: StartServer,
) -> None:
    _a, b, alice, bob = await alice_and_bob(node)
    alice.send("/register open-sesame-42")
    await alice.until(lambda line: "registered" in line)
    await alice.close()
    # The account went into the log before the leave: when B shows one, it has both.
    assert await bob.line() == "*** Alice left (connection closed)"
    again = await Client.connect(b.port)
    await again.line()
    again.send("Alice")
    assert "password" in (await again.line()).lower()
    again.send("open-sesame-42")
    assert (await again.line()).startswith("*** Hello Alice!")


async def test_a_wall_reaches_every_node(node: StartServer) -> None:
    a, b = await node(oper=("Op",)), await node(oper=("Op",))
    op = await register_operator(a.port)
    bob = await Client.join(b.port, "Bob")
    bob.send("/join #elsewhere")
    await bob.line()
    op.send("/wall maintenance at noon")
    assert (await bob.until(lambda line: "maintenance" in line))[-1].endswith("maintenance at noon")


async def test_a_node_shutting_down_says_its_users_left(node: StartServer) -> None:
    a, b, alice, bob = await alice_and_bob(node)
    await b.shutdown()
    assert await alice.line() == "*** Bob left (server shutting down)"
    assert (await bob.closed()).endswith(b"*** server is shutting down\r\n")
    again = await Client.join(a.port, "Bob")
    await again.quiet()


async def test_redis_keeps_history_within_history_keep_and_max_rows(
    node: StartServer, redis: RedisServer
) -> None:
    """--history-keep lines per room, in --history-max-rows / --history-keep rooms:
    measured in Redis (the streams' lengths) and by what a node started afterwards
    shows on entering each room."""
    settings = {"history": 2, "history_keep": 2, "history_max_rows": 4}
    a = await node(**settings)
    alice = await Client.join(a.port, "Alice")
    for room in ROOMS:  # "first" is the least recently active
        alice.send(f"/join #{room}", *(f"{room} {i}" for i in range(3)), f"/ping {room}")
        await alice.until(f"*** pong {room}".__eq__)
    await a.shutdown()
    client = Redis.from_url(redis.url)
    try:
        lengths = {room: await client.xlen(f"asyncchat:history:{room}") for room in ROOMS}
    finally:
        await client.aclose()
    assert lengths == {"first": 0, "second": 2, "third": 2}
    b = await node(**settings)
    bob = await Client.join(b.port, "Bob")
    shown = {}
    for room in ROOMS:
        bob.send(f"/join #{room}", f"/ping {room}")
        lines = await bob.until(f"*** pong {room}".__eq__)
        shown[room] = [line.split("> ", 1)[1] for line in lines if "> " in line]
    assert shown == {
        "first": [],
        "second": ["second 1", "second 2"],
        "third": ["third 1", "third 2"],
    }


async def register_operator(port: int) -> Client:
    op = await Client.join(port, "Op")
    op.send("/register sesame-open-42")
    await op.until(lambda line: "registered" in line)
    return op


async def test_a_kick_from_another_node_removes_the_user_there_once(node: StartServer) -> None:
    a, b = await node(oper=("Op",)), await node(oper=("Op",))
    op = await register_operator(a.port)
    mallory = await Client.join(b.port, "Mallory")
    bob = await Client.join(b.port, "Bob")
    await op.until("*** Bob joined (3 online)".__eq__)
    op.send("/kick Mallory spam")
    await mallory.closed()
    op.send("after the kick")
    # B dropped her when the kick arrived: no second leave when her socket closed.
    assert await bob.until("<Op> after the kick".__eq__) == [
        "*** Mallory left (kicked by Op: spam)",
        "<Op> after the kick",
    ]
    bob.send("/who")
    assert await bob.line() == "*** Online (2): Bob, Op"


async def test_signing_in_on_another_node_takes_over_the_ghost_once(node: StartServer) -> None:
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    alice.send("/register open-sesame-42")
    await alice.until(lambda line: "registered" in line)
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    again = await Client.connect(b.port)
    await again.line()
    again.send("Alice")
    assert "password" in (await again.line()).lower()
    again.send("open-sesame-42")
    assert (await again.line()).startswith("*** Hello Alice!")
    assert (await alice.closed()).endswith(b"*** signed in elsewhere\r\n")
    again.send("back")  # after the old socket closed: what its node said of it came first
    seen = await bob.until("<Alice> back".__eq__)
    assert [line for line in seen if "Alice" in line] == [
        "*** Alice left (signed in elsewhere)",
        "*** Alice joined (2 online)",
        "<Alice> back",
    ]


async def test_many_names_claimed_at_once_all_get_their_hello(node: StartServer) -> None:
    """More claims in flight than the link has connections to Redis: they wait for
    one, the node does not take it for Redis failing."""
    a = await node()
    count = 150
    clients = [await Client.connect(a.port) for _ in range(count)]
    for client in clients:
        await client.line()
    for i, client in enumerate(clients):
        client.send(f"user{i}")
    hellos = await asyncio.gather(*(client.line() for client in clients))
    assert all(hello.startswith(f"*** Hello user{i}!") for i, hello in enumerate(hellos))
