"""The line protocol's chat on the real hub, as (recipient, line) pairs, without sockets."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from chatroom import Room

from asyncchat.config import ServerConfig
from asyncchat.core.commands import Register, Who
from asyncchat.core.events import (
    LeaveReason,
    Record,
)
from asyncchat.core.hub import Hub
from asyncchat.core.registry import State


@pytest.fixture
def room() -> Room:
    chat = Room()
    chat.join("Alice", "Bob", "John")
    return chat


def test_welcome_then_hello_and_joined() -> None:
    chat = Room()
    assert chat.connect("Alice") == [("Alice", "*** Welcome to asyncchat! What is your name?")]
    assert chat.say("Alice", "  Alice ") == [
        ("Alice", "*** Hello Alice! Online (1): Alice. Type /help for commands.")
    ]
    chat.connect("Bob")
    assert chat.say("Bob", "bob") == [
        ("Bob", "*** Hello bob! Online (2): Alice, bob. Type /help for commands."),
        ("Alice", "*** bob joined (2 online)"),
    ]


def test_blank_lines_while_naming_are_ignored() -> None:
    chat = Room()
    chat.connect("x")
    assert chat.say("x", "   ") == []


@pytest.mark.parametrize("wanted", ["ALICE", "alice", "ＡＬＩＣＥ"])
def test_a_taken_name_is_refused_and_asked_again(room: Room, wanted: str) -> None:
    room.connect("new")
    [(who, error), (_, again)] = room.say("new", wanted)
    assert who == "new"
    assert error == f"*** error: the name '{unicodedata.normalize('NFKC', wanted)}' is taken"
    assert again.startswith("*** ")
    assert "name" in again
    assert room.sessions["new"].state is State.NAMING


def test_an_invalid_name_is_refused_with_the_reason_and_visible_controls() -> None:
    chat = Room()
    chat.connect("x")
    [(_, error), (_, again)] = chat.say("x", "Jo\x1b[1mhn")
    assert error == (
        "*** error: 'Jo\\x1b[1mhn' is not a valid name: "
        "a name may contain only letters, digits, '_', '-' and '.'"
    )
    assert "name" in again


def test_public_lines_reach_everyone_else(room: Room) -> None:
    assert room.say("John", "hello all") == [
        ("Alice", "<John> hello all"),
        ("Bob", "<John> hello all"),
    ]


def test_private_lines_reach_one_and_confirm(room: Room) -> None:
    expected = [("Bob", "*John* hi"), ("John", "-> *Bob* hi")]
    assert room.say("John", "Bob: hi") == expected
    assert room.say("John", "bob:hi") == expected
    assert room.say("John", "/msg BOB hi") == expected


def test_reply_goes_to_the_last_sender(room: Room) -> None:
    assert room.say("Bob", "/reply hm") == [
        ("Bob", "*** error: no one has sent you a private message yet; nothing was sent")
    ]
    room.say("John", "Bob: hi")
    room.say("Alice", "Bob: hey")
    assert room.say("Bob", "/r yes?") == [("Alice", "*Bob* yes?"), ("Bob", "-> *Alice* yes?")]


def test_reply_follows_a_rename_and_refuses_after_a_leave(room: Room) -> None:
    room.say("John", "Bob: hi")
    room.say("John", "/nick Johnny")
    assert room.say("Bob", "/r ok") == [("John", "*Bob* ok"), ("Bob", "-> *Johnny* ok")]
    room.hub.leave(room.sessions["John"], LeaveReason.CLOSED)
    assert room.say("Bob", "/r ok") == [("Bob", "*** error: Johnny has left; nothing was sent")]


def test_a_typo_in_a_name_is_an_error_and_delivers_nothing(room: Room) -> None:
    assert room.say("John", "Bbo: secret") == [
        ("John", "*** error: no one called 'Bbo' is online; nothing was sent")
    ]
    assert room.say("John", "/msg 12 x") == [
        ("John", "*** error: '12' is not a valid name; nothing was sent")
    ]


def test_all_colon_is_not_public_but_says_how(room: Room) -> None:
    [(who, error)] = room.say("John", "all: hi")
    assert who == "John"
    assert "use /all" in error


def test_no_private_messages_to_oneself(room: Room) -> None:
    assert room.say("John", "john: me") == [
        ("John", "*** error: you cannot send a private message to yourself")
    ]


def test_me_all_and_escaped_slash(room: Room) -> None:
    assert room.say("John", "/me waves")[0] == ("Alice", "* John waves")
    assert room.say("John", "/all Bob: hi")[1] == ("Bob", "<John> Bob: hi")
    assert room.say("John", "//etc/passwd")[0] == ("Alice", "<John> /etc/passwd")


def test_who_lists_sorted_without_case() -> None:
    chat = Room()
    chat.join("carol", "Bob", "alice")
    assert chat.say("Bob", "/who") == [("Bob", "*** Online (3): alice, Bob, carol")]


def test_nick_tells_everyone_including_the_renamer(room: Room) -> None:
    assert room.say("John", "/nick Johnny") == [
        ("Alice", "*** John is now Johnny"),
        ("Bob", "*** John is now Johnny"),
        ("John", "*** John is now Johnny"),
    ]
    assert room.say("Alice", "johnny: hi")[0] == ("John", "*Alice* hi")
    room.connect("late")
    assert room.say("late", "John")[0][1].startswith("*** Hello John!")


def test_nick_refusals(room: Room) -> None:
    assert room.say("John", "/nick bob") == [("John", "*** error: the name 'bob' is taken")]
    assert room.say("John", "/nick John") == [("John", "*** error: you are already John")]
    assert "reserved" in room.say("John", "/nick Server")[0][1]
    assert room.say("John", "/nick JOHN") == [
        (p, "*** John is now JOHN") for p in ("Alice", "Bob", "John")
    ]


def test_ping_help_and_unknown(room: Room) -> None:
    assert room.say("John", "/ping 7") == [("John", "*** pong 7")]
    assert len(room.say("John", "/help")) > 5
    assert room.say("John", "/frob x") == [
        ("John", "*** error: unknown command '/frob' (try /help)")
    ]


def test_quit_says_bye_then_tells_the_room(room: Room) -> None:
    assert room.say("John", "/quit gone fishing") == [
        ("John", "*** Bye John!"),
        ("Alice", "*** John left (quit: gone fishing)"),
        ("Bob", "*** John left (quit: gone fishing)"),
    ]
    assert room.sessions["John"].state is State.GONE
    assert room.say("John", "still here?") == []
    room.connect("again")
    assert room.say("again", "john")[0][1].startswith("*** Hello john!")


@pytest.mark.parametrize(
    ("reason", "line"),
    [
        (LeaveReason.CLOSED, "*** John left (connection closed)"),
        (LeaveReason.RESET, "*** John left (connection reset)"),
        (LeaveReason.TOO_SLOW, "*** John left (too slow)"),
    ],
)
def test_every_way_of_leaving_is_told(room: Room, reason: LeaveReason, line: str) -> None:
    assert room.heard(room.hub.leave(room.sessions["John"], reason)) == [
        ("Alice", line),
        ("Bob", line),
    ]
    assert room.hub.leave(room.sessions["John"], reason) == []
    assert room.hub.online == 2


def test_commands_other_than_register_wait_for_a_name() -> None:
    chat = Room()
    chat.connect("x")
    said = chat.heard(chat.hub.handle(chat.sessions["x"], Who()))
    assert said == [
        ("x", "*** error: choose a name first"),
        ("x", "*** Please choose another name: type your name and press Enter."),
    ]


def test_register_once_named_is_refused(room: Room) -> None:
    said = room.heard(room.hub.handle(room.sessions["John"], Register("Johnny")))
    assert said == [("John", "*** error: you are John already (/nick NEWNAME changes it)")]


def test_a_full_server_refuses_and_counts_unnamed_connections() -> None:
    chat = Room(max_clients=2)
    chat.connect("a")
    chat.join("b")
    assert chat.connect("c") == [("c", "*** error: server is full")]
    assert chat.sessions["c"].state is State.GONE
    assert chat.hub.connections == 2
    chat.hub.leave(chat.sessions["a"], LeaveReason.CLOSED)
    assert chat.connect("d")[0][1].startswith("*** Welcome")


def test_registration_expiry_only_hits_the_unnamed(room: Room) -> None:
    assert room.hub.expire(room.sessions["John"]) == []
    room.connect("slow")
    assert room.heard(room.hub.expire(room.sessions["slow"])) == [
        ("slow", "*** error: no name given within 30 seconds; goodbye")
    ]
    assert room.sessions["slow"].state is State.GONE
    assert room.hub.connections == 3


def test_shutdown_tells_every_connection_named_or_not(room: Room) -> None:
    room.connect("unnamed")
    said = room.heard(room.hub.shutdown())
    assert sorted(said) == sorted(
        (p, "*** server is shutting down") for p in ("Alice", "Bob", "John", "unnamed")
    )
    assert room.hub.connections == 0
    assert room.hub.online == 0


def test_joins_and_leaves_are_logged_but_messages_are_not(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncchat")
    room.say("John", "top secret")
    room.say("John", "Bob: private secret")
    room.hub.leave(room.sessions["John"], LeaveReason.RESET)
    assert "secret" not in caplog.text
    assert "John left (connection reset)" in caplog.text


# --- rooms and history ----------------------------------------------------


def test_join_moves_you_and_tells_both_rooms(room: Room) -> None:
    assert room.say("John", "/join #games") == [
        ("Alice", "*** John left (moved to another room)"),
        ("Bob", "*** John left (moved to another room)"),
        ("John", "*** Now in #games (1 here): John"),
    ]
    assert room.say("Bob", "/join GAMES") == [
        ("Alice", "*** Bob left (moved to another room)"),
        ("Bob", "*** Now in #games (2 here): Bob, John"),
        ("John", "*** Bob joined (2 here)"),
    ]


def test_public_lines_stay_in_their_room_and_private_ones_cross(room: Room) -> None:
    room.say("John", "/join games")
    assert room.say("Alice", "lobby talk") == [("Bob", "<Alice> lobby talk")]
    assert room.say("John", "/me is alone") == []
    assert room.say("John", "alice: psst") == [
        ("Alice", "*John* psst"),
        ("John", "-> *Alice* psst"),
    ]
    assert room.say("John", "/who") == [("John", "*** Online (1): John")]
    # Alice, who exchanged private messages with John, learns his new name too.
    assert room.say("John", "/nick Johnny") == [
        ("John", "*** John is now Johnny"),
        ("Alice", "*** John is now Johnny"),
    ]
    assert room.say("Bob", "/nick Bobby") == [
        ("Alice", "*** Bob is now Bobby"),
        ("Bob", "*** Bob is now Bobby"),
    ]


def test_rooms_lists_head_counts_and_forgets_empty_rooms(room: Room) -> None:
    room.say("John", "/join Games")
    room.say("Bob", "/join attic")
    assert room.say("Alice", "/rooms") == [
        ("Alice", "*** Rooms (3): #attic (1), #Games (1), #lobby (1)")
    ]
    room.say("Bob", "/join lobby")
    room.hub.leave(room.sessions["John"], LeaveReason.CLOSED)
    assert room.say("Alice", "/rooms") == [("Alice", "*** Rooms (1): #lobby (2)")]


def test_join_refusals(room: Room) -> None:
    assert room.say("John", "/join #lobby") == [("John", "*** error: you are already in #lobby")]
    assert room.say("John", "/join") == [("John", "*** error: usage: /join ROOM")]
    [(_, error)] = room.say("John", "/join #bad room")
    assert error.startswith("*** error: '#bad room' is not a valid room name: ")


class Clock:
    def __init__(self) -> None:
        self.now = 1_794_913_560.0  # 2026-11-17 11:06 UTC

    def __call__(self) -> float:
        self.now += 60
        return self.now


class ListStore:
    """A HistoryStore in a list: what the SQLite one does, without the file."""

    def __init__(self) -> None:
        self.kept: list[Record] = []

    def put(self, record: Record) -> None:
        self.kept.append(record)

    def recent(self, room: str, limit: int) -> list[Record]:
        return [record for record in self.kept if record.room == room][-limit:]


def history_room(**config: Any) -> tuple[Room, list[Record]]:
    store = ListStore()
    chat = Room(**config)
    chat.hub = Hub(replace(ServerConfig(), **config), store=store, clock=Clock())
    return chat, store.kept


def test_entering_a_room_shows_its_recent_lines_oldest_first() -> None:
    chat, kept = history_room(history=2)
    chat.join("Alice")
    chat.say("Alice", "one")
    chat.say("Alice", "/me two")
    chat.say("Alice", "three")
    chat.connect("Bob")
    assert chat.say("Bob", "Bob") == [
        ("Bob", "*** Hello Bob! Online (2): Alice, Bob. Type /help for commands."),
        ("Alice", "*** Bob joined (2 online)"),
        ("Bob", "*** Recent messages in #lobby:"),
        ("Bob", "*** [2026-11-17 11:08] * Alice two"),
        ("Bob", "*** [2026-11-17 11:09] <Alice> three"),
        ("Bob", "*** End of recent messages in #lobby"),
    ]
    assert [(r.room, r.sender, r.text, r.action) for r in kept] == [
        ("lobby", "Alice", "one", False),
        ("lobby", "Alice", "two", True),
        ("lobby", "Alice", "three", False),
    ]


def test_a_room_without_history_sends_no_frame() -> None:
    chat, _ = history_room()
    chat.join("Alice", "Bob")
    chat.say("Alice", "Bob: private lines are not history")
    chat.say("Alice", "/who")
    assert chat.say("Alice", "/join quiet") == [
        ("Bob", "*** Alice left (moved to another room)"),
        ("Alice", "*** Now in #quiet (1 here): Alice"),
    ]


def test_joining_a_room_shows_that_rooms_history_only() -> None:
    chat, _ = history_room()
    chat.join("Alice", "Bob")
    chat.say("Alice", "/join games")
    chat.say("Alice", "gg")
    chat.say("Bob", "lobby line")
    said = chat.say("Bob", "/join games")
    assert [line for who, line in said if who == "Bob"] == [
        "*** Now in #games (2 here): Alice, Bob",
        "*** Recent messages in #games:",
        "*** [2026-11-17 11:07] <Alice> gg",
        "*** End of recent messages in #games",
    ]


def test_history_zero_shows_nothing_but_still_keeps() -> None:
    chat, kept = history_room(history=0)
    chat.join("Alice")
    chat.say("Alice", "hello")
    chat.connect("Bob")
    assert len(chat.say("Bob", "Bob")) == 2
    assert len(kept) == 1


def test_away_is_told_to_private_senders_and_shown_by_who(room: Room) -> None:
    assert room.say("Bob", "/away at lunch") == [
        ("Bob", "*** you are away: at lunch (/away alone when you are back)")
    ]
    assert room.say("John", "bob: there?") == [
        ("Bob", "*John* there?"),
        ("John", "-> *Bob* there?"),
        ("John", "*** Bob is away: at lunch"),
    ]
    assert room.say("Alice", "/who") == [("Alice", "*** Online (3): Alice, Bob (away), John")]
    assert room.say("Bob", "/away") == [("Bob", "*** you are back")]
    assert room.say("John", "bob: welcome back") == [
        ("Bob", "*John* welcome back"),
        ("John", "-> *Bob* welcome back"),
    ]


def test_help_explains_one_command_with_or_without_its_slash(room: Room) -> None:
    expected = [("John", "*** /msg NAME message: private message to NAME")]
    assert room.say("John", "/help msg") == expected
    assert room.say("John", "/help /MSG") == expected
    assert room.say("John", "/help r") == [
        ("John", "*** /reply message: answer the last private message (also /r)")
    ]
    assert room.say("John", "/help frobnicate") == [
        ("John", "*** error: there is no command '/frobnicate' (/help lists them)")
    ]
