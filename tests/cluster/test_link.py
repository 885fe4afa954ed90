"""The link to Redis alone, against a real redis-server: name claims and their
reconciliation after a cut, where timing inside one node matters."""

from __future__ import annotations

import asyncio

from clustersupport import RedisServer, needs_redis
from redis.asyncio import Redis

from asyncchat.cluster.directory import NODE_SHIFT
from asyncchat.cluster.link import Link, name_keys
from asyncchat.core.names import Name

pytestmark = needs_redis

ALICE = Name("Alice", "alice")


async def test_a_reclaim_keeps_a_name_another_session_here_is_trying_to_claim(
    redis: RedisServer,
) -> None:
    link = Link(redis.url, rooms=10, lines=5, keep=10, most=100)
    await link.open()
    client = Redis.from_url(redis.url)
    try:
        first, second = (link.node << NODE_SHIFT) + 1, (link.node << NODE_SHIFT) + 2
        assert (await link.claim(first, ALICE, False)).holder is None
        held = await client.get(name_keys(ALICE)[0])
        # The second's claim is under way (counted before it is sent) while a
        # reclaim compares what Redis holds with what this node holds.
        claimed, lost = await asyncio.gather(
            link.claim(second, ALICE, False),
            link.reclaim(lambda id, name: id == first),
        )
        assert claimed.holder == "Alice"
        assert lost == []
        assert await client.get(name_keys(ALICE)[0]) == held  # still the first's claim
    finally:
        await client.aclose()
        await link.close()


async def test_a_release_of_an_earlier_claim_leaves_a_later_claim_of_the_same_name(
    redis: RedisServer,
) -> None:
    """Alice renamed away and back quickly: the first claim's release, written
    late, must not free the name she holds again."""
    link = Link(redis.url, rooms=10, lines=5, keep=10, most=100)
    await link.open()
    client = Redis.from_url(redis.url)
    try:
        alice = (link.node << NODE_SHIFT) + 1
        await link.claim(alice, ALICE, False)
        earlier = link.forget(name_keys(ALICE))  # she renamed: the old claim goes
        await link.claim(alice, ALICE, False)  # and back, before that was written
        await link.release(earlier)
        assert await client.exists(*name_keys(ALICE)) == 2
    finally:
        await client.aclose()
        await link.close()
