"""Accounts over real loopback sockets: register, the password question, identify,
ghosts, password changes, unregistering, restarts, and brute force slowed."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from support import Client, StartServer

PASSWORD = "correct-horse"
QUESTION = "*** 'Alice' is registered: send its password (or another name)"
ASK_NAME = "*** Please choose another name: type your name and press Enter."


async def registered(port: int, name: str = "Alice", password: str = PASSWORD) -> Client:
    """A client that registered `name` and is still connected."""
    client = await Client.join(port, name)
    client.send(f"/register {password}")
    assert await client.line() == f"*** '{name}' is registered to you"
    return client


async def sign_in(port: int, name: str, password: str) -> tuple[Client, str]:
    """Connect, ask for `name` (in any case), answer the password question; the line after."""
    client = await Client.connect(port)
    await client.line()
    client.send(name)
    assert (await client.line()).lower() == QUESTION.lower().replace("alice", name.lower())
    client.send(password)
    return client, await client.line()


async def test_the_whole_life_of_an_account(tmp_path: Path, start_server: StartServer) -> None:
    db = tmp_path / "chat.db"
    server = await start_server(db=str(db))
    alice = await registered(server.port)
    alice.send("/register another-password")
    assert await alice.line() == (
        "*** error: 'Alice' is registered to you already (/password OLD NEW changes it)"
    )
    await alice.close()

    # The name now needs its password: a fresh name costs no extra round trip.
    bob = await Client.join(server.port, "Bob")
    wrong, answer = await sign_in(server.port, "Alice", "not the password")
    assert answer == "*** error: wrong password"
    assert await wrong.line() == ASK_NAME
    wrong.send("Mallory")
    assert (await wrong.line()).startswith("*** Hello Mallory!")
    alice, answer = await sign_in(server.port, "Alice", PASSWORD)
    assert answer.startswith("*** Hello Alice! Online (3): Alice, Bob, Mallory.")
    assert await bob.line() == "*** Mallory joined (2 online)"
    assert await bob.line() == "*** Alice joined (3 online)"

    alice.send("/password wrong-old new-password-1")
    assert await alice.line() == "*** error: wrong password"
    alice.send(f"/password {PASSWORD} short")
    assert await alice.line() == "*** error: a password needs at least 8 characters"
    alice.send(f"/password {PASSWORD} new-password-1")
    assert await alice.line() == "*** the password of 'Alice' is changed"
    await alice.close()
    await server.shutdown()

    # A restart keeps the account (and only its hash).
    server = await start_server(db=str(db))
    _old, answer = await sign_in(server.port, "Alice", PASSWORD)
    assert answer == "*** error: wrong password"
    alice, answer = await sign_in(server.port, "alice", "new-password-1")
    assert answer.startswith("*** Hello Alice!")
    alice.send("/unregister wrong-password")
    assert await alice.line() == "*** error: wrong password"
    alice.send("/unregister new-password-1")
    assert await alice.line() == "*** 'Alice' is no longer registered"
    await alice.close()
    again = await Client.join(server.port, "Alice")  # free again, no question
    await again.quiet()
    await server.shutdown()
    with sqlite3.connect(db) as file:
        assert file.execute("SELECT count(*) FROM accounts").fetchone() == (0,)


async def test_identify_takes_a_name_over_from_its_ghost(start_server: StartServer) -> None:
    server = await start_server()
    ghost = await registered(server.port)
    bob = await Client.join(server.port, "Bob")
    assert await ghost.line() == "*** Bob joined (2 online)"
    newcomer = await Client.join(server.port, "Alice2")
    assert await bob.line() == "*** Alice2 joined (3 online)"
    newcomer.send(f"/identify Alice {PASSWORD}")
    assert await ghost.line() == "*** Alice2 joined (3 online)"
    assert await ghost.line() == "*** signed in elsewhere"
    assert await ghost.closed() == b""
    assert await bob.line() == "*** Alice left (signed in elsewhere)"
    assert await bob.line() == "*** Alice2 is now Alice"
    assert await newcomer.line() == "*** Alice left (signed in elsewhere)"
    assert await newcomer.line() == "*** Alice2 is now Alice"
    assert await newcomer.line() == "*** you are identified as 'Alice'"
    bob.send("Alice: still you?")
    assert await newcomer.line() == "*Bob* still you?"


async def test_the_password_question_takes_over_a_ghost_too(start_server: StartServer) -> None:
    server = await start_server()
    ghost = await registered(server.port)
    _alice, answer = await sign_in(server.port, "Alice", PASSWORD)
    assert await ghost.line() == "*** signed in elsewhere"
    assert answer.startswith("*** Hello Alice! Online (1): Alice.")
    assert await ghost.closed() == b""


async def test_identify_with_the_password_alone_means_the_name_asked_for(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await (await registered(server.port)).close()
    client = await Client.connect(server.port)
    await client.line()
    client.send("Alice")
    assert await client.line() == QUESTION
    client.send("wrong password")
    assert await client.lines(2) == ["*** error: wrong password", ASK_NAME]
    client.send("Visitor")
    assert (await client.line()).startswith("*** Hello Visitor!")
    client.send(f"/identify {PASSWORD}")
    assert await client.lines(2) == [
        "*** Visitor is now Alice",
        "*** you are identified as 'Alice'",
    ]


async def test_registered_names_and_their_look_alikes_are_refused_while_chatting(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await (await registered(server.port)).close()
    bob = await Client.join(server.port, "Bob")
    bob.send("/nick Alice")
    assert await bob.line() == (
        "*** error: 'Alice' is registered: /identify Alice PASSWORD to use it"
    )
    bob.send("/nick \u0410lice")  # Cyrillic capital A
    assert await bob.line() == "*** error: '\u0410lice' looks too much like 'Alice'"
    client = await Client.connect(server.port)
    await client.line()
    client.send("\u0391lice")  # Greek capital alpha
    assert await client.lines(2) == [
        "*** error: '\u0391lice' looks too much like 'Alice'",
        ASK_NAME,
    ]
    bob.send("/identify Carol whatever1")
    assert await bob.line() == (
        "*** error: 'Carol' is not registered (/register PASSWORD registers your name)"
    )
    bob.send("/password a b")
    assert (await bob.line()).startswith("*** error: you are not identified")


async def test_three_wrong_passwords_a_minute_make_further_tries_wait(
    start_server: StartServer,
) -> None:
    server = await start_server()
    alice = await registered(server.port)
    guesser = await Client.join(server.port, "Guesser")
    for guess in range(3):
        guesser.send(f"/identify Alice guess-{guess}")
        assert await guesser.line() == "*** error: wrong password"
    guesser.send(f"/identify Alice {PASSWORD}")  # even the right one waits now
    answer = await guesser.line()
    assert answer.startswith("*** error: too many attempts; try again in "), answer
    seconds = int(answer.rsplit(" ", 2)[-2])
    assert 55 <= seconds <= 60
    # At the name question too, from another connection: per name, not per connection.
    other = await Client.connect(server.port)
    await other.line()
    other.send("Alice")
    assert await other.line() == QUESTION
    other.send(PASSWORD)
    assert (await other.line()).startswith("*** error: too many attempts; try again in ")
    assert await other.line() == ASK_NAME
    assert await alice.line() == "*** Guesser joined (2 online)"
    await alice.quiet()  # the owner, already signed in, is not affected


async def test_a_password_is_never_logged_stored_or_echoed(
    tmp_path: Path, start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Sw0rdfish-unique-7731"
    db = tmp_path / "chat.db"
    caplog.set_level(logging.DEBUG)
    server = await start_server(db=str(db))
    alice = await registered(server.port, password=secret)
    await alice.close()
    client, answer = await sign_in(server.port, "Alice", secret + "x")
    assert answer == "*** error: wrong password"
    await client.line()
    client.send("/identify " + secret)  # while naming: not a name, and not quoted back
    refusal = await client.line()
    assert secret not in refusal
    await client.line()
    client.send("Visitor")
    await client.line()
    client.send(f"/identify Alice {secret}")
    await client.until(lambda line: "identified" in line)
    await server.shutdown()
    assert secret not in caplog.text
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir())  # noqa: ASYNC240
    assert secret.encode() not in raw
    with sqlite3.connect(db) as file:
        (stored,) = file.execute("SELECT secret FROM accounts").fetchone()
    assert stored.startswith("$argon2id$")


async def test_hashes_run_off_the_loop(start_server: StartServer) -> None:
    """10 hashes at once (~30 ms of CPU each) while another user pings: answered in 50 ms."""
    server = await start_server(max_unnamed_per_ip=20)
    hashing = [await Client.join(server.port, f"Hasher{n}") for n in range(10)]
    pinger = await Client.join(server.port, "Pinger")
    for client in hashing:
        await client.until(lambda line: line.startswith("*** Pinger joined"))
    for n, client in enumerate(hashing):
        client.send(f"/register password-{n}")
    slowest = 0.0
    for _ in range(5):
        started = time.perf_counter()
        pinger.send("/ping")
        assert await pinger.line() == "*** pong"
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0)
    answers = [await client.line() for client in hashing]
    assert all(answer.endswith("is registered to you") for answer in answers)
    assert slowest < 0.050, f"a ping took {slowest * 1000:.1f} ms while hashing"
