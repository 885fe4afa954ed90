"""The web port over real loopback sockets against a real server: the WebSocket's JSON
both ways, with line (nc) users in the same rooms, bad input, the Origin check, the
page over HTTP, the limits every connection has, and shutdown (docs/web.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from support import TIMEOUT, Client, StartServer, flood_until_cut
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websupport import Reply, WebUser, fetch

from asyncchat.edge.server import ChatServer
from asyncchat.frontends.web.site import SECURITY_HEADERS

WELCOME = {"type": "welcome", "version": 1, "text": "Welcome to asyncchat! What is your name?"}
ASK_NAME = {
    "type": "ask-name",
    "text": "Please choose another name: type your name and press Enter.",
}
PASSWORD = "secret123"


def web(server: ChatServer) -> int:
    return server.port_of("web")


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server(web_port=0)


async def closed(user: WebUser) -> ConnectionClosed:
    """The next thing from the server is the end of the connection (no message first)."""
    with pytest.raises(ConnectionClosed) as raised:
        await user.next()
    return raised.value


def close_code(ended: ConnectionClosed) -> int:
    """The code of the close frame the server sent."""
    assert ended.rcvd is not None, f"no close frame: {ended}"
    return ended.rcvd.code


async def connected(port: int) -> WebUser:
    """A WebSocket that got its welcome and has not named itself."""
    user = await WebUser.connect(port)
    assert await user.next() == WELCOME
    return user


# Every event type over the wire.


async def test_welcome_then_a_refused_name_then_hello(server: ChatServer) -> None:
    ann = await WebUser.connect(web(server))
    assert await ann.next() == WELCOME
    await ann.send({"type": "name", "name": "bad name!"})
    error = await ann.next()
    assert (error["type"], error["code"]) == ("error", "bad-name")
    assert "'bad name!' is not a valid name" in error["text"]
    assert await ann.next() == ASK_NAME
    await ann.send({"type": "say", "text": "too soon"})
    assert await ann.next() == {
        "type": "error",
        "code": "bad-name",
        "text": "choose a name first: send a 'name'",
    }
    assert await ann.next() == ASK_NAME
    await ann.send({"type": "name", "name": "Ann"})
    assert await ann.next() == {"type": "hello", "name": "Ann", "online": ["Ann"], "topic": ""}
    await ann.quiet()  # an empty lobby: no history block

    bob = await connected(web(server))
    await bob.send({"type": "name", "name": "ANN"})
    taken = await bob.next()
    assert (taken["type"], taken["code"]) == ("error", "name-taken")
    assert await bob.next() == ASK_NAME
    await bob.send({"type": "name", "name": "Bob"})
    hello = await bob.next()
    assert hello == {"type": "hello", "name": "Bob", "online": ["Ann", "Bob"], "topic": ""}
    assert await ann.next() == {
        "type": "joined",
        "name": "Bob",
        "count": 2,
        "moved": False,
        "room": "lobby",
    }


async def test_a_newcomer_is_shown_the_recent_lines_of_the_room(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    before = time.time()
    await ann.send({"type": "say", "text": "first"})
    await ann.send({"type": "action", "text": "waves"})
    assert [(await ann.next())["text"] for _ in range(2)] == ["first", "waves"]  # echoes
    await ann.quiet()
    bob = await WebUser.join(web(server), "Bob")
    start, first, second, end = [await bob.next() for _ in range(4)]
    assert start == {"type": "history-start", "room": "lobby"}
    assert end == {"type": "history-end", "room": "lobby"}
    for line, text, action in ((first, "first", False), (second, "waves", True)):
        assert line["type"] == "history"
        assert (line["room"], line["from"], line["text"], line["action"]) == (
            "lobby",
            "Ann",
            text,
            action,
        )
        assert isinstance(line["time"], float)
        assert before - 1 <= line["time"] <= time.time() + 1
        assert isinstance(line["id"], int)
        assert line["id"] > 0
        assert set(line) == {"type", "room", "time", "from", "text", "action", "id"}
    assert first["id"] < second["id"]
    await bob.quiet()


async def test_public_lines_actions_private_messages_and_away(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await WebUser.join(web(server), "Bob")
    await ann.of_type("joined")
    await ann.send({"type": "say", "text": "hello"})
    said = await bob.next()
    assert said["type"] == "message"
    assert "tags" not in said
    assert (said["room"], said["from"], said["text"], said["action"]) == (
        "lobby",
        "Ann",
        "hello",
        False,
    )
    assert isinstance(said["id"], int)
    assert isinstance(said["time"], float)
    echoed = await ann.next()  # your own come back, as the room got them
    assert echoed == said
    await ann.send({"type": "action", "text": "waves"})
    await ann.send({"type": "input", "text": "/me nods"})
    await ann.send({"type": "input", "text": "//etc/hosts is a file"})
    for text, action in (("waves", True), ("nods", True), ("/etc/hosts is a file", False)):
        acted = await bob.next()
        assert (acted["type"], acted["from"], acted["text"], acted["action"]) == (
            "message",
            "Ann",
            text,
            action,
        )
        assert await ann.next() == acted
    await ann.quiet()

    await ann.send({"type": "private", "to": "bob", "text": "psst"})
    assert await ann.next() == {"type": "private-sent", "to": "Bob", "text": "psst"}
    private = await bob.next()
    assert set(private) == {"type", "from", "text", "time", "id"}
    assert (private["type"], private["from"], private["text"]) == ("private", "Ann", "psst")
    await bob.send({"type": "input", "text": "Ann: back at you"})
    assert await bob.next() == {"type": "private-sent", "to": "Ann", "text": "back at you"}
    assert (await ann.next())["text"] == "back at you"

    await bob.send({"type": "input", "text": "/away lunch"})
    assert await bob.next() == {
        "type": "away",
        "message": "lunch",
        "text": "you are away: lunch (/away alone when you are back)",
    }
    assert await ann.next() == {"type": "away-changed", "name": "Bob", "message": "lunch"}
    await ann.send({"type": "private", "to": "Bob", "text": "there?"})
    assert (await ann.next())["type"] == "private-sent"
    assert await ann.next() == {
        "type": "is-away",
        "name": "Bob",
        "message": "lunch",
        "text": "Bob is away: lunch",
    }
    await ann.send({"type": "who"})
    assert await ann.next() == {"type": "online", "names": ["Ann", "Bob"], "away": ["Bob"]}
    await bob.send({"type": "input", "text": "/away"})
    assert (await bob.of_type("away")) == {"type": "away", "message": None, "text": "you are back"}
    assert await ann.next() == {"type": "away-changed", "name": "Bob", "message": None}


async def test_rooms_moves_and_every_way_of_leaving(server: ChatServer) -> None:
    port = web(server)
    ann = await WebUser.join(port, "Ann")
    bob = await WebUser.join(port, "Bob")
    cy = await WebUser.join(port, "Cy")
    await ann.until(lambda m: m.get("name") == "Cy")
    await bob.of_type("joined")

    await bob.send({"type": "join", "room": "#dev"})
    assert await bob.next() == {"type": "room", "room": "dev", "names": ["Bob"], "topic": ""}
    assert await ann.next() == {
        "type": "left",
        "name": "Bob",
        "reason": "moved",
        "message": None,
        "room": "lobby",
        "text": "Bob left (moved to another room)",
    }
    await ann.send({"type": "rooms"})
    assert await ann.next() == {
        "type": "rooms",
        "rooms": [{"room": "dev", "count": 1}, {"room": "lobby", "count": 2}],
    }
    await ann.send({"type": "who", "room": "#lobby"})
    assert await ann.next() == {"type": "online", "names": ["Ann", "Cy"], "away": []}

    assert (await cy.next())["reason"] == "moved"  # Bob left the lobby
    await cy.send({"type": "join", "room": "dev"})
    entered = await cy.next()
    assert entered == {"type": "room", "room": "dev", "names": ["Bob", "Cy"], "topic": ""}
    assert await bob.next() == {
        "type": "joined",
        "name": "Cy",
        "count": 2,
        "moved": True,
        "room": "dev",
    }
    await cy.send({"type": "quit", "reason": "bed time"})
    assert await cy.next() == {"type": "bye", "name": "Cy", "text": "Bye Cy!"}
    assert close_code(await closed(cy)) == 1000
    assert await bob.next() == {
        "type": "left",
        "name": "Cy",
        "reason": "quit",
        "message": "bed time",
        "room": "dev",
        "text": "Cy left (quit: bed time)",
    }

    dan = await WebUser.join(port, "Dan")
    await ann.of_type("joined")
    await dan.close()
    assert await ann.next() == {
        "type": "left",
        "name": "Dan",
        "reason": "closed",
        "message": None,
        "room": "lobby",
        "text": "Dan left (connection closed)",
    }
    eve = await WebUser.join(port, "Eve")
    await ann.of_type("joined")
    eve.socket.transport.abort()
    left = await ann.next()
    assert (left["type"], left["name"], left["reason"]) == ("left", "Eve", "reset")
    await ann.quiet()
    await bob.quiet()


async def test_names_topics_help_ignores_and_pings(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await WebUser.join(web(server), "Bob")
    await ann.of_type("joined")
    await ann.send({"type": "input", "text": "/nick Anna"})
    renamed = {"type": "renamed", "old": "Ann", "new": "Anna"}
    assert await ann.next() == renamed
    assert await bob.next() == renamed

    await bob.send({"type": "input", "text": "/topic"})
    assert await bob.next() == {"type": "topic", "room": "lobby", "topic": ""}
    await bob.send({"type": "input", "text": "/topic weekend plans"})
    changed = {"type": "topic-changed", "name": "Bob", "room": "lobby", "topic": "weekend plans"}
    assert await bob.next() == changed
    assert await ann.next() == changed
    await ann.send({"type": "input", "text": "/topic"})
    assert await ann.next() == {"type": "topic", "room": "lobby", "topic": "weekend plans"}
    cy = await connected(web(server))
    await cy.send({"type": "name", "name": "Cy"})
    hello = await cy.next()
    assert (hello["type"], hello["topic"]) == ("hello", "weekend plans")
    await ann.of_type("joined")
    await bob.of_type("joined")

    await ann.send({"type": "input", "text": "/help"})
    listed = await ann.next()
    assert listed["type"] == "help"
    assert set(listed) == {"type", "text"}
    lines = listed["text"].split("\n")
    assert lines[0] == "Commands:"
    assert any(line.lstrip().startswith("/join ROOM") for line in lines)
    assert not any("/kick" in line for line in lines)  # not an operator
    await ann.send({"type": "input", "text": "/help join"})
    assert await ann.next() == {
        "type": "help",
        "text": "/join ROOM: go to another room, creating it if needed",
    }

    await ann.send({"type": "input", "text": "/ignore Bob"})
    assert await ann.next() == {
        "type": "ignoring",
        "name": "Bob",
        "on": True,
        "text": "ignoring Bob",
    }
    await bob.send({"type": "say", "text": "can you hear me?"})
    await bob.send({"type": "private", "to": "Anna", "text": "hello?"})
    await bob.of_type("private-sent")
    await ann.send({"type": "input", "text": "/ignore"})
    assert await ann.next() == {
        "type": "ignore-list",
        "names": ["Bob"],
        "text": "Ignoring (1): Bob",
    }
    await ann.send({"type": "input", "text": "/unignore Bob"})
    assert await ann.next() == {
        "type": "ignoring",
        "name": "Bob",
        "on": False,
        "text": "no longer ignoring Bob",
    }
    await ann.send({"type": "ping", "token": "t-42"})
    assert await ann.next() == {"type": "pong", "token": "t-42"}
    await ann.send({"type": "ping"})
    assert await ann.next() == {"type": "pong", "token": ""}


async def test_a_registered_name_asks_for_its_password(server: ChatServer) -> None:
    port = web(server)
    ann = await WebUser.join(port, "Ann")
    await ann.send({"type": "input", "text": f"/register {PASSWORD}"})
    assert await ann.next() == {
        "type": "account",
        "change": "registered",
        "name": "Ann",
        "text": "'Ann' is registered to you",
    }
    bob = await WebUser.join(port, "Bob")
    await ann.of_type("joined")

    again = await connected(port)
    await again.send({"type": "name", "name": "ann"})
    asked = {
        "type": "ask-password",
        "name": "Ann",
        "text": "'Ann' is registered: send its password (or another name)",
    }
    assert await again.next() == asked
    await again.send({"type": "password", "password": "not-the-one"})
    assert await again.next() == {
        "type": "error",
        "code": "wrong-password",
        "text": "wrong password",
    }
    assert await again.next() == ASK_NAME
    await again.send({"type": "name", "name": "Ann"})
    assert await again.next() == asked
    await again.send({"type": "password", "password": PASSWORD})
    hello = await again.next()
    assert (hello["type"], hello["name"], sorted(hello["online"])) == (
        "hello",
        "Ann",
        ["Ann", "Bob"],
    )

    assert await ann.next() == {"type": "signed-in-elsewhere", "text": "signed in elsewhere"}
    assert close_code(await closed(ann)) == 1000
    ghosted = await bob.next()
    assert (ghosted["type"], ghosted["name"], ghosted["reason"]) == ("left", "Ann", "ghosted")
    joined = await bob.next()
    assert (joined["type"], joined["name"]) == ("joined", "Ann")
    await again.send({"type": "input", "text": f"/identify {PASSWORD}"})
    error = await again.next()
    assert (error["type"], error["code"]) == ("error", "bad-command")  # identified already


async def test_operators_wall_mute_and_kick(start_server: StartServer) -> None:
    server = await start_server(web_port=0, oper=("Op",))
    op = await Client.join(server.port, "Op")
    op.send(f"/register {PASSWORD}")
    assert await op.line() == "*** 'Op' is registered to you"
    zed = await WebUser.join(web(server), "Zed")
    watcher = await WebUser.join(web(server), "Watcher")
    await zed.of_type("joined")
    await op.until(lambda line: "Watcher joined" in line)

    op.send("/wall maintenance at five")
    wall = {"type": "wall", "from": "Op", "text": "maintenance at five"}
    assert await zed.next() == wall
    assert await watcher.next() == wall
    op.send("/mute Zed")
    assert await zed.next() == {"type": "notice", "text": "you are muted by Op"}
    await zed.send({"type": "say", "text": "hello?"})
    muted = await zed.next()
    assert (muted["type"], muted["code"]) == ("error", "muted")
    op.send("/kick Zed go away")
    assert await zed.next() == {
        "type": "removed",
        "reason": "kicked",
        "by": "Op",
        "message": "go away",
        "text": "you were kicked by Op: go away",
    }
    await closed(zed)
    left = await watcher.next()
    assert (left["type"], left["name"], left["reason"]) == ("left", "Zed", "kicked")
    await watcher.quiet()


# Web and nc users in one conversation.


async def test_a_web_user_and_an_nc_user_talk_both_ways(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await Client.join(server.port, "Bob")
    joined = await ann.next()
    assert (joined["type"], joined["name"], joined["count"]) == ("joined", "Bob", 2)

    await ann.send({"type": "say", "text": "hello from the web"})
    await ann.send({"type": "action", "text": "waves"})
    await ann.send({"type": "private", "to": "Bob", "text": "just you"})
    assert await bob.lines(3) == ["<Ann> hello from the web", "* Ann waves", "*Ann* just you"]
    assert [(await ann.next())["text"] for _ in range(2)] == ["hello from the web", "waves"]
    assert await ann.next() == {"type": "private-sent", "to": "Bob", "text": "just you"}

    bob.send("hello from nc", "/me nods", "Ann: back to you", "/msg Ann and again")
    public, action = await ann.next(), await ann.next()
    assert (public["type"], public["from"], public["text"], public["action"]) == (
        "message",
        "Bob",
        "hello from nc",
        False,
    )
    assert (action["type"], action["from"], action["text"], action["action"]) == (
        "message",
        "Bob",
        "nods",
        True,
    )
    for text in ("back to you", "and again"):
        private = await ann.next()
        assert (private["type"], private["from"], private["text"]) == ("private", "Bob", text)
    assert await bob.lines(2) == ["-> *Ann* back to you", "-> *Ann* and again"]

    await ann.send({"type": "input", "text": "/nick Anna"})
    assert await ann.next() == {"type": "renamed", "old": "Ann", "new": "Anna"}
    assert await bob.line() == "*** Ann is now Anna"
    bob.send("/quit")
    assert await bob.closed() == b"*** Bye Bob!\r\n"
    assert await ann.next() == {
        "type": "left",
        "name": "Bob",
        "reason": "quit",
        "message": None,
        "room": "lobby",
        "text": "Bob left",
    }
    await ann.quiet()


# Bad input: an error, and nothing else lost.


BAD_INPUT: list[tuple[str | bytes, str]] = [
    ("this is not JSON", "bad-command"),
    ('["say", "hi"]', "bad-command"),
    ('{"text": "no type"}', "bad-command"),
    ('{"type": "dance"}', "unknown-command"),
    ('{"type": "say"}', "bad-command"),
    ('{"type": "private", "to": "Bob", "text": 5}', "bad-command"),
    ('{"type": "name", "name": "Again"}', "bad-command"),
    (b'{"type": "say", "text": "binary"}', "bad-command"),
    ('{"type": "say", "text": "' + "x" * 2049 + '"}', "line-too-long"),
    ('{"type": "say", "text": ' + "[" * 3000 + "]" * 3000 + "}", "bad-command"),
]


@pytest.mark.parametrize(
    ("data", "code"), BAD_INPUT, ids=[f"{code}-{i}" for i, (_, code) in enumerate(BAD_INPUT)]
)
async def test_bad_input_is_answered_and_the_connection_stays(
    server: ChatServer, data: str | bytes, code: str
) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await Client.join(server.port, "Bob")
    await ann.of_type("joined")
    await ann.send_raw(data)
    error = await ann.next()
    assert (error["type"], error["code"]) == ("error", code), error
    assert isinstance(error["text"], str)
    assert error["text"]
    await ann.quiet()
    await bob.quiet()  # nothing of it reached anyone else
    await ann.send({"type": "say", "text": "still here"})
    assert await bob.line() == "<Ann> still here"


async def test_a_message_of_max_recvq_bytes_is_read_one_byte_more_closes_with_1009(
    server: ChatServer,
) -> None:
    limit = server.config.max_recvq
    ann = await WebUser.join(web(server), "Ann")
    bob = await WebUser.join(web(server), "Bob")
    nc = await Client.join(server.port, "Nc")
    await ann.until(lambda m: m.get("name") == "Nc")
    await bob.of_type("joined")
    head, tail = '{"type": "say", "text": "', '"}'
    exactly = head + "x" * (limit - len(head) - len(tail)) + tail
    assert len(exactly.encode()) == limit
    await ann.send_raw(exactly)
    too_long = await ann.next()
    assert (too_long["type"], too_long["code"]) == ("error", "line-too-long")
    await ann.quiet()

    await ann.send_raw("x" * (limit + 1))
    assert close_code(await closed(ann)) == 1009
    left = await bob.next()
    # The server fails the connection: it does not wait for the browser's close frame.
    assert (left["type"], left["name"], left["reason"]) == ("left", "Ann", "reset")
    assert await nc.line() == "*** Ann left (connection reset)"
    await bob.quiet()


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    nc = await Client.join(server.port, "Nc")
    await ann.of_type("joined")
    await ann.socket.send(b'{"type": "say", "text": "\xff"}', text=True)
    assert close_code(await closed(ann)) == 1007
    assert await nc.line() == "*** Ann left (connection reset)"


# The Origin check on the upgrade.


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (None, True),
        ("http://127.0.0.1:{port}", True),
        ("https://127.0.0.1:{port}", True),
        ("https://chat.example.org", True),
        ("HTTPS://Chat.Example.Org", True),
        ("http://evil.example", False),
        ("http://127.0.0.1", False),
        ("http://127.0.0.1:1", False),
        ("null", False),
        ("https://chat.example.org.evil.example", False),
    ],
)
async def test_the_upgrade_is_refused_to_other_sites_pages(
    start_server: StartServer, origin: str | None, accepted: bool
) -> None:
    server = await start_server(web_port=0, web_origin=("https://chat.example.org",))
    port = web(server)
    wanted = origin.format(port=port) if origin is not None else None
    if accepted:
        user = await WebUser.connect(port, origin=wanted)
        assert await user.next() == WELCOME
        return
    with pytest.raises(InvalidStatus) as refused:
        await WebUser.connect(port, origin=wanted)
    response = refused.value.response
    assert response.status_code == 403
    assert b"origin" in response.body
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# The page over plain HTTP.


def assert_secured(reply: Reply) -> None:
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"


async def test_the_page_is_served_with_its_security_headers(server: ChatServer) -> None:
    page = await fetch(web(server), "/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert_secured(page)
    html = page.body.decode()
    assert html.lower().startswith("<!doctype html>")
    assert '<script src="/app.js"' in html
    assert html.count("<script") == html.count("<script src=")  # no inline script
    assert "javascript:" not in html


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
        ("/?from=bookmark", "text/html; charset=utf-8"),
    ],
)
async def test_the_page_files_have_their_types(
    server: ChatServer, path: str, content_type: str
) -> None:
    reply = await fetch(web(server), path)
    assert reply.status == 200
    assert reply.headers["content-type"] == content_type
    assert reply.body
    assert_secured(reply)


async def test_an_unknown_path_is_404(server: ChatServer) -> None:
    for path in ("/nope", "/index.html", "/../etc/passwd", "/app.js/"):
        reply = await fetch(web(server), path)
        assert reply.status == 404, path
        assert reply.body == b"not found: the chat is at /\n"
        assert_secured(reply)


async def test_a_known_etag_is_304_without_a_body(server: ChatServer) -> None:
    port = web(server)
    first = await fetch(port, "/app.js")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    again = await fetch(port, "/app.js", f"If-None-Match: {etag}")
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    other = await fetch(port, "/app.js", 'If-None-Match: "stale"')
    assert (other.status, other.body) == (200, first.body)
    style = await fetch(port, "/style.css")
    assert style.headers["etag"] != etag


async def test_the_whole_page_is_under_100_kb(server: ChatServer) -> None:
    sizes = [len((await fetch(web(server), path)).body) for path in ("/", "/app.js", "/style.css")]
    assert all(sizes)
    assert sum(sizes) < 100 * 1024


# Limits.


async def test_flood_control_delays_messages_but_delivers_them_in_order(
    start_server: StartServer,
) -> None:
    server = await start_server(web_port=0, rate=5, burst=2)
    ann = await WebUser.join(web(server), "Ann")
    bob = await WebUser.join(web(server), "Bob")
    loop = asyncio.get_running_loop()
    for i in range(6):
        await ann.send({"type": "say", "text": f"line {i}"})
    arrived = []
    for i in range(6):
        said = await bob.next()
        arrived.append(loop.time())
        assert (said["type"], said["text"]) == ("message", f"line {i}")
    # At most `burst` go at once; every later one waits 1/rate: at least 4 gaps of 0.2 s.
    assert arrived[-1] - arrived[0] >= 0.6


async def test_a_connection_that_never_names_itself_is_closed(start_server: StartServer) -> None:
    server = await start_server(web_port=0, register_timeout=0.3)
    loop = asyncio.get_running_loop()
    ann = await WebUser.join(web(server), "Ann")
    started = loop.time()
    silent = await connected(web(server))
    assert await silent.next() == {
        "type": "error",
        "code": "register-timeout",
        "text": "no name given within 0.3 seconds; goodbye",
    }
    assert loop.time() - started >= 0.25
    assert close_code(await closed(silent)) == 1000
    await ann.quiet()  # a named user has no such timer


async def read_refusal(port: int) -> bytes:
    """Whatever a raw connection gets before the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    + b"".join(f"{key}: {value}\r\n".encode() for key, value in SECURITY_HEADERS)
    + b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 39\r\nConnection: close\r\n\r\n"
    b"too many connections from your address\n"
)


async def test_one_unnamed_connection_too_many_gets_503_with_the_reason(
    start_server: StartServer,
) -> None:
    server = await start_server(web_port=0, exempt="", max_unnamed_per_ip=2)
    port = web(server)
    first = await connected(port)
    await connected(port)
    assert await read_refusal(port) == REFUSED
    with pytest.raises(InvalidStatus) as refused:
        await WebUser.connect(port)
    assert refused.value.response.status_code == 503
    assert refused.value.response.body == b"too many connections from your address\n"

    await first.send({"type": "name", "name": "Ann"})  # named: its place is free again
    assert (await first.next())["type"] == "hello"
    third = await connected(port)
    await third.send({"type": "name", "name": "Bob"})
    assert (await third.next())["type"] == "hello"


async def test_a_page_fetch_gives_its_place_back(start_server: StartServer) -> None:
    server = await start_server(web_port=0, exempt="", max_unnamed_per_ip=2)
    port = web(server)
    first = await connected(port)
    assert (await fetch(port, "/")).status == 200
    # A round trip through the server after the fetch's socket closed.
    await first.send({"type": "rooms"})
    assert (await first.next())["code"] == "bad-name"
    assert await first.next() == ASK_NAME
    await connected(port)
    assert await read_refusal(port) == REFUSED


async def test_a_page_fetch_gives_its_place_back_once_its_response_is_sent(
    start_server: StartServer,
) -> None:
    server = await start_server(web_port=0, exempt="", max_unnamed_per_ip=2)
    port = web(server)
    await connected(port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), TIMEOUT)  # all of it, and the end
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        await connected(port)  # refused with 503: the fetch still holds its place
    finally:
        writer.close()


async def test_a_web_user_who_stops_reading_is_cut_off(start_server: StartServer) -> None:
    server = await start_server(web_port=0, max_sendq=4096, rate=0)
    nc = await Client.join(server.port, "Nc")
    slow = await WebUser.join(web(server), "Slow")
    assert await nc.line() == "*** Slow joined (2 online)"
    slow.socket.transport.pause_reading()

    await flood_until_cut(nc, "Slow", per_round=100, rounds=200, seconds=10)
    assert server.hub.find("slow") is None
    again = await WebUser.join(web(server), "Slow")  # the name is free
    await again.of_type("history-end")
    await again.quiet()


# Shutdown.


async def test_shutdown_says_so_then_closes_the_websocket(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await Client.join(server.port, "Bob")
    await ann.of_type("joined")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.shutdown()
    assert loop.time() - started < 2  # not the whole grace period: the socket closed
    assert await ann.next() == {"type": "shutdown", "text": "server is shutting down"}
    close_code(await closed(ann))  # a closing handshake, not a dropped socket
    assert await bob.closed() == b"*** server is shutting down\r\n"


# Bugs.


async def test_a_lone_surrogate_costs_nobody_their_connection(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    bob = await Client.join(server.port, "Bob")
    await ann.of_type("joined")
    await ann.send_raw('{"type": "say", "text": "half a pair: \\ud800"}')
    await ann.send({"type": "ping", "token": "after"})
    await ann.until(lambda m: m["type"] == "pong")
    await bob.quiet()


async def test_a_lone_surrogate_does_not_lock_newcomers_out_of_the_room(
    server: ChatServer,
) -> None:
    ann = await WebUser.join(web(server), "Ann")
    await ann.send({"type": "say", "text": "a whole line"})
    await ann.send_raw('{"type": "say", "text": "half a pair: \\ud800"}')
    with contextlib.suppress(ConnectionClosed):  # the sender's own fate is the test above
        await ann.send({"type": "ping", "token": "after"})
        await ann.until(lambda m: m["type"] == "pong")
    carol = await Client.join(server.port, "Carol")
    history = await carol.until(lambda line: line.startswith("*** End of recent messages"))
    assert any("a whole line" in line for line in history)
    assert not any("half a pair" in line for line in history)
    await carol.quiet()
    dave = await WebUser.join(web(server), "Dave")
    await dave.of_type("history-end")
    await dave.quiet()


async def test_history_lines_name_the_room_as_everything_else_does(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    await ann.send({"type": "join", "room": "DevOps"})
    assert (await ann.next())["room"] == "DevOps"
    await ann.send({"type": "say", "text": "standup at ten"})
    assert (await ann.next())["room"] == "DevOps"  # the echo
    await ann.quiet()
    bob = await WebUser.join(web(server), "Bob")
    await bob.send({"type": "join", "room": "devops"})
    entered, start, line, end = [await bob.next() for _ in range(4)]
    assert [m["type"] for m in (entered, start, line, end)] == [
        "room",
        "history-start",
        "history",
        "history-end",
    ]
    assert [m["room"] for m in (entered, start, line, end)] == ["DevOps"] * 4


async def test_another_name_after_ask_password_is_a_name(server: ChatServer) -> None:
    port = web(server)
    ann = await WebUser.join(port, "Ann")
    await ann.send({"type": "input", "text": f"/register {PASSWORD}"})
    assert (await ann.next())["type"] == "account"
    other = await connected(port)
    await other.send({"type": "name", "name": "Ann"})
    assert (await other.next())["type"] == "ask-password"
    await other.send({"type": "name", "name": "Carol"})
    hello = await other.next()
    assert (hello["type"], hello.get("name")) == ("hello", "Carol"), hello


async def test_a_password_nobody_asked_for_is_not_taken_as_a_name(server: ChatServer) -> None:
    ann = await WebUser.join(web(server), "Ann")
    stranger = await connected(web(server))
    await stranger.send({"type": "password", "password": "hunter2hunter2"})
    refused = await stranger.next()
    assert refused["type"] == "error", refused
    await ann.quiet()  # nobody is told anything, least of all the password
