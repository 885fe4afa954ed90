"""When parts of a cluster fail: a node killed with SIGKILL, Redis stopped and
started again under traffic, Redis not there at all."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import pytest
from clustersupport import Cuttable, RedisServer, needs_redis
from redis.asyncio import Redis
from support import Client, StartServer, daemon

from asyncchat.cluster import link
from asyncchat.cluster.link import HEARTBEAT, TTL

pytestmark = needs_redis

NOT_SENT = "*** error: the chat is degraded; your message was not sent"


async def test_a_killed_node_s_users_leave_as_lost_and_their_names_are_freed(
    node: StartServer, redis: RedisServer
) -> None:
    a = await node()
    alice = await Client.join(a.port, "Alice")
    async with daemon("--redis", redis.url) as b:
        bob = await Client.join(await b.port(), "Bob")
        assert await alice.line() == "*** Bob joined (2 online)"
        bob.send("hi from B")
        assert await alice.line() == "<Bob> hi from B"
        killed = time.monotonic()
        b.process.send_signal(signal.SIGKILL)
        await b.process.wait()
        left = await alice.line(timeout=TTL + 2 * HEARTBEAT + 5)
        took = time.monotonic() - killed
    assert left == "*** Bob left (node lost)"
    assert took < 15, f"took {took:.1f} s"
    assert TTL + 2 * HEARTBEAT < 15  # the bound the documented timings promise
    again = await Client.join(a.port, "Bob")  # the name is free: its key expired
    assert await alice.line() == "*** Bob joined (2 online)"
    alice.send("/who")
    assert await alice.line() == "*** Online (2): Alice, Bob"
    history = await again.until(lambda line: line.startswith("*** End of recent messages"))
    assert any(line.endswith("<Bob> hi from B") for line in history), history


async def test_redis_stopped_and_started_under_traffic_loses_nothing_silently(
    node: StartServer, redis: RedisServer
) -> None:
    a, b = await node(rate=0), await node(rate=0)
    alice = await Client.join(a.port, "Alice")
    carol = await Client.join(b.port, "Carol")
    assert await alice.line() == "*** Carol joined (2 online)"
    told = 0
    sent = 0

    async def say(count: int) -> list[str]:
        """Lines one at a time, each followed by a ping: what Alice was told."""
        nonlocal sent, told
        seen: list[str] = []
        for _ in range(count):
            alice.send(f"m {sent}", f"/ping {sent}")
            seen += await alice.until(f"*** pong {sent}".__eq__)
            sent += 1
        told += seen.count(NOT_SENT)
        return seen

    await say(20)
    await redis.stop()
    during = await say(20)
    assert NOT_SENT in during
    assert (
        "*** the chat is degraded: this server cannot reach the others; "
        "nothing is sent until it is back"
    ) in during
    await redis.start()
    back = await alice.until("*** the chat is back".__eq__)
    told += back.count(NOT_SENT)
    await say(20)
    alice.send("last")
    got = await carol.until("<Alice> last".__eq__)
    numbers = [int(m[1]) for line in got if (m := re.fullmatch(r"<Alice> m (\d+)", line))]
    assert numbers == sorted(set(numbers)), "out of order or twice"
    assert len(numbers) + told == sent, (len(numbers), told, sent)
    assert numbers[-20:] == list(range(sent - 20, sent))  # all of them once it was back
    assert "*** the chat is back" in got


async def test_a_name_cannot_be_given_while_redis_is_down(
    node: StartServer, redis: RedisServer
) -> None:
    a = await node()
    alice = await Client.join(a.port, "Alice")
    await redis.stop()
    alice.send("anyone?")
    assert (await alice.until(lambda line: "error" in line))[-1] == NOT_SENT
    late = await Client.connect(a.port)
    await late.line()
    late.send("Late")
    assert await late.line() == (
        "*** error: the chat is degraded; no name can be given now, try again in a moment"
    )
    await redis.start()
    await alice.until("*** the chat is back".__eq__)
    await late.line()  # the name question again
    late.send("Late")
    assert (await late.line()).startswith("*** Hello Late!")


async def test_a_node_that_cannot_reach_redis_at_start_says_so_and_exits() -> None:
    async with daemon("--redis", "redis://127.0.0.1:1/0") as lonely:
        assert lonely.process.stderr is not None
        errors = await asyncio.wait_for(lonely.process.stderr.read(), 20)
        assert await lonely.process.wait() == 1
    assert b"cannot reach Redis at redis://127.0.0.1:1/0" in errors, errors


async def test_a_node_cut_off_while_the_log_moves_past_it_reloads_a_snapshot(
    start_server: StartServer, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "LOG_LENGTH", 20)  # the log is trimmed while B is away
    proxy = Cuttable(redis.port)
    await proxy.open()
    a = await start_server(redis=redis.url, rate=0)
    b = await start_server(redis=proxy.url)
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    await proxy.cut()
    await bob.until(lambda line: line.startswith("*** the chat is degraded"))
    carol = await Client.join(a.port, "Carol")
    for i in range(300):  # an entry each: Redis trims whole blocks of 100 entries
        alice.send(f"line {i}", f"/ping {i}")
        await alice.until(f"*** pong {i}".__eq__)
    client = Redis.from_url(redis.url)
    try:
        info = await client.xinfo_stream("asyncchat:log")
    finally:
        await client.aclose()
    first = int(info["first-entry"][1][b"n"])
    assert first > 100, info  # trimmed: what B missed is gone from the log
    await proxy.open()
    missed = await bob.until("*** the chat is back".__eq__)
    assert not [line for line in missed if line.startswith("<Alice>")]
    bob.send("/who")
    assert await bob.line() == "*** Online (3): Alice, Bob, Carol"  # from the snapshot
    alice.send("after the gap")
    assert await bob.line() == "<Alice> after the gap"
    await carol.until("<Alice> after the gap".__eq__)


async def test_an_outage_longer_than_the_names_ttl_keeps_everyone_and_their_names(
    node: StartServer, redis: RedisServer
) -> None:
    a = await node()
    alice = await Client.join(a.port, "Alice")
    await redis.stop()
    await alice.until(lambda line: line.startswith("*** the chat is degraded"))
    await asyncio.sleep(TTL + HEARTBEAT)  # the outage's length is the behaviour tested
    await redis.start()
    seen = await alice.until("*** the chat is back".__eq__, timeout=link.BACKOFF_MOST + 5)
    assert not [line for line in seen if "taken" in line], seen
    other = await Client.connect(a.port)
    await other.line()
    other.send("Alice")  # its key expired in Redis meanwhile; the node set it again
    assert await other.line() == "*** error: the name 'Alice' is taken"
    alice.send("still here")
    await alice.quiet()


async def test_after_redis_loses_its_data_nodes_resync_and_numbers_are_not_reused(
    node: StartServer, redis: RedisServer
) -> None:
    a, b = await node(), await node()
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    numbers = {server.node.link.node for server in (a, b) if server.node is not None}
    client = Redis.from_url(redis.url)
    try:
        await client.flushall()
        # Each node's next beat finds itself forgotten and says again who it has.
        for _ in range(int(3 * HEARTBEAT / 0.05)):
            if all([await client.exists(f"asyncchat:sessions:{n}") for n in numbers]):
                break
            await asyncio.sleep(0.05)  # polling Redis, another process
        else:
            raise AssertionError("the nodes did not say again who they have")
    finally:
        await client.aclose()
    c = await node()
    assert c.node is not None
    assert c.node.link.node not in numbers
    taken = await Client.connect(c.port)
    await taken.line()
    taken.send("Alice")
    assert await taken.line() == "*** error: the name 'Alice' is taken"
    carol = await Client.join(c.port, "Carol")
    carol.send("Bob: only for Bob")
    assert await carol.line() == "-> *Bob* only for Bob"
    assert (await bob.until(lambda line: "only for" in line))[-1] == "*Carol* only for Bob"
    alice.send("/ping after")
    assert not [line for line in await alice.until("*** pong after".__eq__) if "only" in line]


async def test_a_node_cut_off_and_back_several_times_keeps_one_order(
    start_server: StartServer, redis: RedisServer
) -> None:
    proxy = Cuttable(redis.port)
    await proxy.open()
    a = await start_server(redis=redis.url, rate=0)
    b = await start_server(redis=proxy.url, rate=0)
    alice = await Client.join(a.port, "Alice")
    bob = await Client.join(b.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    for _ in range(4):
        await proxy.cut()
        await bob.until(lambda line: line.startswith("*** the chat is degraded"))
        await proxy.open()
        await bob.until("*** the chat is back".__eq__, timeout=link.BACKOFF_MOST + 5)
    count = 2000
    for start in range(0, count, 10):  # a ping between chunks: one entry each
        bob.send(*(f"n {i}" for i in range(start, start + 10)), "/ping")
    lines = [await alice.line() for _ in range(count)]
    assert lines == [f"<Bob> n {i}" for i in range(count)]
