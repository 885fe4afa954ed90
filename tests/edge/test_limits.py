"""Fairness and limits over real sockets: slow readers, floods, the client cap."""

from __future__ import annotations

import asyncio
import time

from support import Client, StartServer

from asyncchat.edge.server import ChatServer


async def test_a_slow_reader_is_cut_off_and_nobody_waits(start_server: StartServer) -> None:
    server = await start_server(max_sendq=64 * 1024, rate=0)
    sender = await Client.join(server.port, "Sender")
    fast = await Client.join(server.port, "Fast")
    await sender.line()
    slow = await Client.connect(server.port, rcvbuf=4096)
    await slow.line()
    slow.send("Slow")
    await sender.until(lambda line: "Slow joined" in line)
    await fast.until(lambda line: "Slow joined" in line)
    slow.stop_reading()

    payload = "x" * 1000
    sent = 0
    left = "*** Slow left (too slow)"
    seen_left = False
    deadline = time.monotonic() + 20
    while not seen_left and sent < 50_000 and time.monotonic() < deadline:
        sender.send(*(f"{sent + i} {payload}" for i in range(100)))
        for i in range(100):
            line = await fast.line()
            if line == left:
                seen_left = True
                line = await fast.line()
            assert line == f"<Sender> {sent + i} {payload}"
        sent += 100
    assert seen_left, f"slow reader not cut off after {sent} lines"
    assert await sender.until(lambda line: line == left)
    assert server.hub.online == 2
    assert (await Client.join(server.port, "slow")) is not None


async def test_a_flood_is_slowed_down_but_every_line_arrives_in_order(
    start_server: StartServer,
) -> None:
    server = await start_server(rate=50, burst=10)
    flooder = await Client.join(server.port, "Flood")
    listener = await Client.join(server.port, "Ear")
    await flooder.line()
    count = 60
    started = time.monotonic()
    flooder.send(*(f"line {i}" for i in range(count)))
    received = await listener.lines(count, timeout=10)
    elapsed = time.monotonic() - started
    assert received == [f"<Flood> line {i}" for i in range(count)]
    # (count - burst) lines must each wait 1/rate: the bucket cannot be beaten.
    assert elapsed >= (count - 10) / 50 * 0.9


async def test_flood_control_can_be_turned_off(start_server: StartServer) -> None:
    server = await start_server(rate=0)
    flooder = await Client.join(server.port, "Flood")
    listener = await Client.join(server.port, "Ear")
    await flooder.line()
    flooder.send(*(f"line {i}" for i in range(2000)))
    assert await listener.lines(2000) == [f"<Flood> line {i}" for i in range(2000)]


async def test_one_client_too_many_is_told_the_server_is_full(start_server: StartServer) -> None:
    server = await start_server(max_clients=3)
    alice = await Client.join(server.port, "Alice")
    unnamed = await Client.connect(server.port)
    await unnamed.line()
    bob = await Client.join(server.port, "Bob")
    extra = await Client.connect(server.port)
    assert await alice.line() == "*** Bob joined (2 online)"
    assert await extra.closed() == b"*** error: server is full\r\n"
    bob.send("/quit")
    assert await alice.line() == "*** Bob left"
    carol = await Client.join(server.port, "Carol")
    await carol.quiet()
    unnamed.send("Dave")
    assert (await unnamed.line()).startswith("*** Hello Dave! Online (3)")


async def test_200_clients_registering_at_once(server: ChatServer) -> None:
    clients = await asyncio.gather(
        *(Client.join(server.port, f"user{i}") for i in range(200)), return_exceptions=False
    )
    assert server.hub.online == 200
    last = clients[-1]
    last.send("/who")
    who = await last.until(lambda line: line.startswith("*** Online"))
    names = who[-1].split(": ", 1)[1].split(", ")
    assert names == sorted((f"user{i}" for i in range(200)), key=str.casefold)
    assert who[-1].startswith("*** Online (200): ")
    clients[0].send("hello everyone")
    for client in clients[1:]:
        await client.until(lambda line: line == "<user0> hello everyone")


async def test_shutdown_cuts_off_a_client_that_will_not_take_its_output(
    start_server: StartServer,
) -> None:
    server = await start_server(rate=0, max_sendq=8 * 1024 * 1024, shutdown_grace=0.5)
    sender = await Client.join(server.port, "Sender")
    stuck = await Client.connect(server.port, rcvbuf=4096)
    await stuck.line()
    stuck.send("Stuck")
    await sender.line()
    stuck.stop_reading()
    session = server.hub.find("stuck")
    assert session is not None
    transport = session.peer.transport
    sent = 0
    while transport.get_write_buffer_size() == 0 and sent < 20_000:
        sender.send(*(f"{sent + i} " + "x" * 1000 for i in range(100)))
        sent += 100
        await sender.quiet()
    assert transport.get_write_buffer_size() > 0, "could not back up the stuck client"

    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.shutdown()
    assert loop.time() - started < 1.5
    assert await sender.closed() == b"*** server is shutting down\r\n"
    assert transport.is_closing()


async def test_a_burst_of_mixed_lines_arrives_in_order_where_it_belongs(
    start_server: StartServer,
) -> None:
    server = await start_server(rate=0)
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    await alice.line()
    carol = await Client.join(server.port, "Carol")
    await alice.line()
    await bob.line()
    carol.send("/join games")
    assert await carol.line() == "*** Now in #games (1 here): Carol"
    assert await alice.line() == "*** Carol left (moved to another room)"
    assert await bob.line() == "*** Carol left (moved to another room)"
    bob.send_raw(b"one\ntwo\n/me three\nAlice: four\nfive\n/nick Bobby\nsix\n/join games\nseven\n")
    assert await alice.lines(8) == [
        "<Bob> one",
        "<Bob> two",
        "* Bob three",
        "*Bob* four",
        "<Bob> five",
        "*** Bob is now Bobby",
        "<Bobby> six",
        "*** Bobby left (moved to another room)",
    ]
    assert await carol.lines(2) == ["*** Bobby joined (2 here)", "<Bobby> seven"]
    await alice.quiet()
