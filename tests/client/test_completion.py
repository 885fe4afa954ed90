from asyncchat.client.completion import completions, word_start
from asyncchat.client.roster import Roster
from asyncchat.core.events import Hello, Joined, LeaveReason, Left, Online, Renamed
from asyncchat.frontends.line.wire import parse

NAMES = ["Alice", "albert", "Bob", "John"]


def test_names_at_line_start_complete_to_an_address() -> None:
    assert completions("al", NAMES, me="John") == ["Alice: ", "albert: "]
    assert completions("B", NAMES, me="John") == ["Bob: "]
    assert completions("", NAMES, me="John") == ["Alice: ", "albert: ", "Bob: "]


def test_one_never_completes_to_oneself() -> None:
    assert completions("jo", NAMES, me="john") == []


def test_commands_complete_after_a_slash() -> None:
    assert completions("/n", NAMES) == ["/names", "/nick"]
    assert completions("/R", NAMES) == ["/r", "/register", "/reply", "/rooms"]


def test_names_complete_after_msg_and_nick_only() -> None:
    assert completions("/msg b", NAMES, me="John") == ["Bob"]
    assert completions("/MSG al", NAMES, me="John") == ["Alice", "albert"]
    assert completions("/nick A", NAMES, me="John") == ["Alice", "albert"]
    assert completions("/msg Bob hel", NAMES) == []
    assert completions("hello b", NAMES) == []


def test_word_start() -> None:
    assert word_start("/msg Bo") == -2
    assert word_start("al") == -2
    assert word_start("/msg ") == 0


def test_the_roster_follows_the_notices() -> None:
    roster = Roster()
    roster.apply(Hello("John", ("Alice", "John")))
    roster.apply(Joined("Bob", 3))
    roster.apply(parse("*** carol joined (4 online)"))
    assert roster.names == ["Alice", "Bob", "carol", "John"]
    roster.apply(Left("alice", LeaveReason.CLOSED))
    roster.apply(Renamed("John", "Johnny"))
    assert roster.me == "Johnny"
    assert roster.names == ["Bob", "carol", "Johnny"]
    roster.apply(Online(("X", "Johnny")))
    assert roster.names == ["Johnny", "X"]
    roster.apply(parse("<Bob> Dave joined (9 online)"))
    assert roster.names == ["Johnny", "X"]


def test_join_completes_room_names_with_or_without_hash() -> None:
    rooms = ["games", "Garden", "lobby"]
    assert completions("/join g", NAMES, rooms=rooms) == ["#games", "#Garden"]
    assert completions("/join #ga", NAMES, rooms=rooms) == ["#games", "#Garden"]
    assert completions("/jo", NAMES) == ["/join"]
    assert completions("/ro", NAMES) == ["/rooms"]


def test_the_roster_follows_rooms() -> None:
    roster = Roster()
    roster.apply(Hello("John", ("Alice", "John")))
    assert roster.room == "lobby"
    roster.apply(parse("*** Now in #games (2 here): Bob, John"))
    assert roster.room == "games"
    assert roster.names == ["Bob", "John"]
    roster.apply(parse("*** Rooms (2): #games (2), #Attic (1)"))
    assert roster.rooms == ["Attic", "games"]
    roster.apply(Hello("John", ("John",)))
    assert roster.room == "lobby"
