"""Every front end on a cluster: an IRC client and a browser's WebSocket on one
node, an nc user on another, in one conversation."""

from __future__ import annotations

from clustersupport import RedisServer, needs_redis
from ircsupport import IRC
from support import Client, StartServer
from websupport import WebUser

from asyncchat.cluster.link import BACKOFF_MOST

pytestmark = needs_redis


async def test_irc_web_and_line_users_on_two_nodes_talk(node: StartServer) -> None:
    a = await node(irc_port=0, web_port=0)
    b = await node()
    nc = await Client.join(b.port, "Nick")
    irc = await IRC.register(a.port_of("irc"), "Iris")
    assert await nc.line() == "*** Iris joined (2 online)"
    web = await WebUser.join(a.port_of("web"), "Webb")
    assert await nc.line() == "*** Webb joined (3 online)"
    await irc.until(lambda m: m.command == "JOIN" and (m.source or "").startswith("Webb"))

    nc.send("hello everyone")
    said = await web.of_type("message")
    assert (said["from"], said["text"]) == ("Nick", "hello everyone")
    privmsg = (await irc.until(lambda m: m.command == "PRIVMSG"))[-1]
    assert (privmsg.source or "").startswith("Nick!")
    assert privmsg.params[-1] == "hello everyone"

    irc.send("PRIVMSG #lobby :from irc")
    assert await nc.line() == "<Iris> from irc"
    assert (await web.of_type("message"))["text"] == "from irc"

    await web.send({"type": "say", "text": "from the browser"})
    assert await nc.line() == "<Webb> from the browser"
    echoed = await web.of_type("message")  # the page shows what the room got
    assert (echoed["from"], echoed["text"]) == ("Webb", "from the browser")

    nc.send("/msg Iris psst", "/msg Webb psst too")
    private = (await irc.until(lambda m: m.command == "PRIVMSG" and m.params[0] == "Iris"))[-1]
    assert private.params[-1] == "psst"
    assert (await web.of_type("private"))["text"] == "psst too"

    irc.send("NICK Irene")
    assert await nc.until("*** Iris is now Irene".__eq__)
    nc.send("/msg Irene after the rename")  # the IRC client is told as its new nick
    private = (await irc.until(lambda m: m.command == "PRIVMSG" and "after" in m.params[-1]))[-1]
    assert private.params[0] == "Irene"
    await web.send({"type": "who"})
    who = await web.of_type("online")
    assert sorted(who["names"]) == ["Irene", "Nick", "Webb"]


async def test_an_irc_client_registering_while_degraded_is_told_to_try_later(
    node: StartServer, redis: RedisServer
) -> None:
    a = await node(irc_port=0)
    watcher = await Client.join(a.port, "Watcher")
    await redis.stop()
    await watcher.until(lambda line: line.startswith("*** the chat is degraded"))
    irc = await IRC.connect(a.port_of("irc"))
    irc.send("NICK Iris", "USER iris 0 * :Iris")
    refused = (await irc.until(lambda m: m.command == "437"))[-1]
    assert refused.params[1:] == (
        "Iris",
        "the chat is degraded; no name can be given now, try again in a moment",
    )
    await redis.start()
    await watcher.until("*** the chat is back".__eq__, timeout=BACKOFF_MOST + 5)
    irc.send("NICK Iris")  # what IRC clients do after 437: another NICK
    await irc.until(lambda m: m.command == "001")
