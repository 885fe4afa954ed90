"""The hub as the core: commands in, effects and events out (no wire format)."""

from __future__ import annotations

import pytest
from chatroom import Room, events_to

from asyncchat.core.commands import Join, Nick, Part, Quit, Register, Reply, Say, Whisper, Who
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    ToRoom,
    ToRooms,
)
from asyncchat.core.events import (
    Error,
    ErrorCode,
    Hello,
    Joined,
    LeaveReason,
    Left,
    Online,
    Private,
    PrivateSent,
    Renamed,
    RoomEntered,
    Said,
)
from asyncchat.core.registry import MAX_CORRESPONDENTS, State


@pytest.fixture
def room() -> Room:
    chat = Room()
    chat.join("Alice", "Bob", "John")
    return chat


def test_effects_address_by_key_and_say_when_to_close(room: Room) -> None:
    john = room.sessions["John"]
    effects = room.hub.handle(john, Quit("bye"))
    assert effects[-1] == Close(john.id)
    left = effects[1]
    assert isinstance(left, Delivery)
    assert left.to == ToRooms(("lobby",))
    said = room.hub.handle(room.sessions["Alice"], Say("hi"))
    assert [effect.to for effect in said if isinstance(effect, Delivery)] == [
        ToRoom("lobby", exclude=room.sessions["Alice"].id)
    ]


def test_ignorers_are_skipped_by_id_in_a_room_delivery(room: Room) -> None:
    room.say("Alice", "/ignore Bob")
    (said,) = room.hub.handle(room.sessions["Bob"], Say("hi"))
    assert isinstance(said, Delivery)
    assert said.to == ToRoom(
        "lobby", exclude=room.sessions["Bob"].id, skip=frozenset({room.sessions["Alice"].id})
    )


def test_events_carry_their_room_time_and_id(room: Room) -> None:
    alice = room.sessions["Alice"]
    first, second = (room.hub.handle(alice, Say(text))[0] for text in ("one", "two"))
    assert isinstance(first, Delivery)
    assert isinstance(second, Delivery)
    assert isinstance(first.event, Said)
    assert isinstance(second.event, Said)
    assert (first.event.record.room, first.event.record.text) == ("lobby", "one")
    assert second.event.record.id == first.event.record.id + 1
    assert first.event.record.time > 0
    assert room.hub.history.recent("lobby")[-1] == second.event.record  # one record type
    moved = room.hub.handle(alice, Join("#Games"))
    events = [effect.event for effect in moved if isinstance(effect, Delivery)]
    assert Left("Alice", LeaveReason.MOVED, room="lobby") in events
    assert RoomEntered("Games", ("Alice",)) in events
    assert Joined("Alice", 1, moved=True, room="Games") in events
    private = room.hub.handle(room.sessions["Bob"], Whisper("Alice", "psst"))[0]
    assert isinstance(private, Delivery)
    assert isinstance(private.event, Private)
    assert private.event.id > second.event.record.id


def test_a_name_is_claimed_through_the_directory_and_its_answer_fed_back() -> None:
    chat = Room()
    chat.connect("x")
    session = chat.sessions["x"]
    (claim,) = chat.hub.handle(session, Register("Zoë"))
    assert claim == ClaimName(session.id, "Zoë", "zoë")
    assert chat.heard(chat.hub.claimed(claim, holder="Zoë")) == [
        ("x", "*** error: the name 'Zoë' is taken"),
        ("x", "*** Please choose another name: type your name and press Enter."),
    ]
    assert session.state is State.NAMING
    answer = chat.heard(chat.hub.claimed(claim, holder=None))
    assert answer[0] == ("x", "*** Hello Zoë! Online (1): Zoë. Type /help for commands.")
    assert chat.hub.claimed(claim, holder=None) == []  # already named


def test_a_session_can_be_in_several_rooms_at_once(room: Room) -> None:
    """What an IRC front end will ask for; the line protocol keeps one room."""
    alice, bob = room.sessions["Alice"], room.sessions["Bob"]
    room.hub.handle(alice, Join("dev", keep_others=True))
    room.hub.handle(bob, Join("dev", keep_others=True))
    assert list(alice.rooms) == ["lobby", "dev"]
    assert alice.room == "dev"

    said = room.hub.handle(alice, Say("to the lobby", room="#lobby"))
    (event,) = events_to(room, "John", said)
    assert isinstance(event, Said)
    assert (event.record.room, event.record.text) == ("lobby", "to the lobby")
    said = room.hub.handle(alice, Say("to dev"))
    assert events_to(room, "John", said) == []
    assert len(events_to(room, "Bob", said)) == 1

    (claim,) = room.hub.handle(alice, Nick("Alicia"))
    assert isinstance(claim, ClaimName)
    renamed = room.hub.claimed(claim, holder=None)
    assert events_to(room, "Bob", renamed) == [Renamed("Alice", "Alicia")]  # once, not twice
    assert events_to(room, "John", renamed) == [Renamed("Alice", "Alicia")]

    parted = room.hub.handle(alice, Part("dev", "bye dev"))
    assert events_to(room, "Bob", parted) == [Left("Alicia", LeaveReason.PARTED, "bye dev", "dev")]
    assert events_to(room, "John", parted) == []
    assert list(alice.rooms) == ["lobby"]
    assert alice.room == "lobby"

    not_in = room.hub.handle(alice, Say("hi", room="dev"))
    assert events_to(room, "Alice", not_in) == [Error(ErrorCode.BAD_COMMAND, "you are not in #dev")]
    gone = room.hub.leave(bob, LeaveReason.CLOSED)
    assert events_to(room, "John", gone) == [Left("Bob", LeaveReason.CLOSED)]  # from both rooms
    assert room.hub.directory.room_count() == 1  # dev went with its last member


def test_who_names_a_room_one_is_in(room: Room) -> None:
    alice = room.sessions["Alice"]
    room.hub.handle(alice, Join("dev", keep_others=True))
    assert events_to(room, "Alice", room.hub.handle(alice, Who("lobby"))) == [
        Online(("Alice", "Bob", "John"))
    ]
    assert events_to(room, "Alice", room.hub.handle(alice, Who())) == [Online(("Alice",))]


def test_registration_is_hello_to_the_newcomer_and_joined_to_the_room() -> None:
    chat = Room()
    chat.join("Alice")
    chat.connect("Bob")
    bob = chat.sessions["Bob"]
    (claim,) = chat.hub.handle(bob, Register("Bob"))
    assert isinstance(claim, ClaimName)
    effects = chat.hub.claimed(claim, holder=None)
    assert events_to(chat, "Bob", effects) == [Hello("Bob", ("Alice", "Bob"))]
    assert events_to(chat, "Alice", effects) == [Joined("Bob", 2, room="lobby")]


def test_a_private_message_reaches_one_and_confirms_to_the_sender(room: Room) -> None:
    effects = room.hub.handle(room.sessions["John"], Whisper("bob", "psst"))
    (private,) = events_to(room, "Bob", effects)
    assert isinstance(private, Private)
    assert (private.sender, private.text) == ("John", "psst")
    assert events_to(room, "John", effects) == [PrivateSent("Bob", "psst")]
    assert events_to(room, "Alice", effects) == []
    reply = room.hub.handle(room.sessions["Bob"], Reply("ok"))
    assert [type(e) for e in events_to(room, "John", reply)] == [Private]


def test_a_room_past_the_limit_is_an_error_event() -> None:
    chat = Room(max_rooms=2)
    chat.join("Alice", "Bob")
    chat.hub.handle(chat.sessions["Alice"], Join("a"))
    effects = chat.hub.handle(chat.sessions["Bob"], Join("b"))
    assert events_to(chat, "Bob", effects) == [
        Error(ErrorCode.TOO_MANY_ROOMS, "too many rooms; join an existing one (/rooms)")
    ]


def test_leaving_several_rooms_is_told_once_to_each_who_shared_any(room: Room) -> None:
    alice, bob = room.sessions["Alice"], room.sessions["Bob"]
    for session in (alice, bob):
        room.hub.handle(session, Join("dev", keep_others=True))
    gone = room.hub.leave(alice, LeaveReason.QUIT)
    assert events_to(room, "Bob", gone) == [Left("Alice", LeaveReason.QUIT)]
    assert events_to(room, "John", gone) == [Left("Alice", LeaveReason.QUIT)]


def test_moving_to_a_room_one_is_already_in_announces_nothing_there(room: Room) -> None:
    alice = room.sessions["Alice"]
    room.hub.handle(alice, Join("dev", keep_others=True))
    moved = room.hub.handle(alice, Join("lobby"))
    assert events_to(room, "Bob", moved) == []
    assert events_to(room, "Alice", moved) == [RoomEntered("lobby", ("Alice", "Bob", "John"))]
    assert list(alice.rooms) == ["lobby"]


def test_a_rename_goes_through_the_directory_and_reaches_a_renamer_in_no_room(
    room: Room,
) -> None:
    alice = room.sessions["Alice"]
    (claim,) = room.hub.handle(alice, Nick("Alicia"))
    assert claim == ClaimName(alice.id, "Alicia", "alicia", rename=True)
    refused = room.hub.claimed(claim, holder="Alicia")  # held elsewhere, say on another daemon
    assert events_to(room, "Alice", refused) == [
        Error(ErrorCode.NAME_TAKEN, "the name 'Alicia' is taken")
    ]
    room.hub.handle(alice, Part("lobby"))
    assert alice.rooms == {}
    renamed = room.hub.claimed(claim, holder=None)
    assert events_to(room, "Alice", renamed) == [Renamed("Alice", "Alicia")]
    assert events_to(room, "Bob", renamed) == []
    case_only = room.hub.handle(alice, Nick("ALICIA"))
    assert events_to(room, "Alice", case_only) == [Renamed("Alicia", "ALICIA")]


def test_private_partners_are_remembered_within_a_bound(room: Room) -> None:
    """Measured as the size of the partners table after more partners than the bound."""
    john = room.sessions["John"]
    for i in range(MAX_CORRESPONDENTS + 20):
        peer = f"p{i}"
        room.join(peer)
        room.hub.handle(room.sessions[peer], Whisper("John", "hi"))
    assert len(john.correspondents) == MAX_CORRESPONDENTS
    assert room.sessions[f"p{MAX_CORRESPONDENTS + 19}"].id in john.correspondents
    assert room.sessions["p0"].id not in john.correspondents
