"""The hub's sign-in steps without sockets: what happens around a password being
hashed (a PasswordWork in flight), measured in hub calls, not in time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chatroom import Room

import asyncchat.core.commands as cmd
from asyncchat.config import ServerConfig
from asyncchat.core.effects import ClaimName, Delivery, PasswordWork, Purpose
from asyncchat.core.events import AskName, AskPassword, Error, ErrorCode
from asyncchat.core.hub import Hub
from asyncchat.core.hub.signin import MAX_HASHING
from asyncchat.core.passwords import hash_password
from asyncchat.core.registry import State
from asyncchat.edge.passwords import compute


def pending(effects: Sequence[object]) -> PasswordWork:
    (work,) = [effect for effect in effects if isinstance(effect, PasswordWork)]
    return work


def registered_room() -> Room:
    room = Room()
    room.join("Alice")
    assert room.say("Alice", "/register alice-secret") == [
        ("Alice", "*** 'Alice' is registered to you")
    ]
    room.say("Alice", "/quit")
    return room


def test_a_session_is_busy_until_its_password_is_checked() -> None:
    room = registered_room()
    hub = room.hub
    room.connect("Bob")
    bob = room.sessions["Bob"]
    assert [type(e) for e in hub.handle(bob, cmd.Register("Alice"))] == [Delivery]
    assert bob.asking
    work = pending(hub.handle(bob, cmd.Register("alice-secret")))
    assert work.purpose is Purpose.SIGN_IN
    assert bob.busy
    refused = hub.handle(bob, cmd.Register("anything"))
    assert [e.event for e in refused if isinstance(e, Delivery)] == [
        Error(ErrorCode.BUSY, "wait for your password to be checked")
    ]
    effects = hub.password_done(work, compute(work))
    assert not bob.busy
    assert [type(e) for e in effects] == [ClaimName]


def test_an_answer_for_a_session_that_left_is_dropped_and_frees_its_slot() -> None:
    room = registered_room()
    hub = room.hub
    room.connect("Bob")
    bob = room.sessions["Bob"]
    hub.handle(bob, cmd.Register("Alice"))
    work = pending(hub.handle(bob, cmd.Register("alice-secret")))
    hub.expire(bob)  # the registration clock ran out meanwhile
    assert bob.state is State.GONE
    assert hub.password_done(work, True) == []
    assert hub._hashing == 0


def test_past_max_hashing_a_try_is_answered_busy_at_once() -> None:
    hub: Hub[str] = Hub(replace(ServerConfig(), max_unnamed_per_ip=10_000))
    secret = hash_password("alice-secret")
    sessions = []
    for n in range(MAX_HASHING + 1):
        session, _ = hub.connect(f"peer{n}")
        hub.claimed(ClaimName(session.id, f"User{n}", f"user{n}"), None)
        sessions.append(session)
    works = [pending(hub.handle(s, cmd.RegisterAccount("password-1"))) for s in sessions[:-1]]
    assert len(works) == MAX_HASHING
    last = hub.handle(sessions[-1], cmd.RegisterAccount("password-1"))
    assert [e.event for e in last if isinstance(e, Delivery)] == [
        Error(ErrorCode.BUSY, "the server is busy checking passwords; try again in a few seconds")
    ]
    hub.password_done(works[0], secret)
    assert isinstance(hub.handle(sessions[-1], cmd.RegisterAccount("password-1"))[0], PasswordWork)


def test_a_wrong_password_at_naming_asks_the_name_again_and_counts() -> None:
    room = registered_room()
    hub = room.hub
    room.connect("Bob")
    bob = room.sessions["Bob"]
    asked = hub.handle(bob, cmd.Register("ALICE"))
    assert [e.event for e in asked if isinstance(e, Delivery)] == [AskPassword("Alice")]
    for _ in range(3):
        work = pending(hub.handle(bob, cmd.Register("wrong-guess")))
        effects = hub.password_done(work, compute(work))
        assert [e.event for e in effects if isinstance(e, Delivery)] == [
            Error(ErrorCode.WRONG_PASSWORD, "wrong password"),
            AskName(),
        ]
        hub.handle(bob, cmd.Register("Alice"))
    waited = hub.handle(bob, cmd.Register("alice-secret"))
    events = [e.event for e in waited if isinstance(e, Delivery)]
    assert isinstance(events[0], Error)
    assert events[0].code is ErrorCode.TOO_MANY_ATTEMPTS
    assert events[1] == AskName()
    assert not any(isinstance(e, PasswordWork) for e in waited)  # no hash was spent on it


def test_an_account_unregistered_while_its_password_is_checked_is_not_signed_into() -> None:
    room = registered_room()
    hub = room.hub
    room.connect("Bob")
    bob = room.sessions["Bob"]
    hub.handle(bob, cmd.Register("Alice"))
    work = pending(hub.handle(bob, cmd.Register("alice-secret")))
    hub.accounts.remove("alice")
    effects = hub.password_done(work, True)
    assert [e.event for e in effects if isinstance(e, Delivery)] == [
        Error(ErrorCode.WRONG_PASSWORD, "that account changed meanwhile; try again"),
        AskName(),
    ]
    assert bob.account is None
