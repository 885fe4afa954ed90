from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core.events import (
    AskName,
    Bye,
    Error,
    ErrorCode,
    Event,
    Hello,
    HelpText,
    HistoryEnd,
    HistoryLine,
    HistoryStart,
    IsAway,
    Joined,
    LeaveReason,
    Left,
    Notice,
    Online,
    Pong,
    Private,
    PrivateSent,
    Record,
    Renamed,
    RoomEntered,
    Rooms,
    Said,
    ShuttingDown,
    Welcome,
)
from asyncchat.core.sanitize import sanitize
from asyncchat.frontends.line.wire import encode, parse, render


def Public(sender: str, text: str) -> Said:
    """A public line as a client reads it back: no room, time or id."""
    return Said(Record("", 0.0, sender, text))


def Action(sender: str, text: str) -> Said:
    return Said(Record("", 0.0, sender, text, action=True))


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (Public("Alice", "hi"), "<Alice> hi"),
        (Action("Alice", "waves"), "* Alice waves"),
        (Private("Alice", "psst"), "*Alice* psst"),
        (PrivateSent("Bob", "psst"), "-> *Bob* psst"),
        (Welcome(), "*** Welcome to asyncchat! What is your name?"),
        (
            Hello("John", ("Alice", "Bob", "John")),
            "*** Hello John! Online (3): Alice, Bob, John. Type /help for commands.",
        ),
        (Joined("John", 3), "*** John joined (3 online)"),
        (Left("John", LeaveReason.QUIT), "*** John left"),
        (Left("John", LeaveReason.QUIT, "bye all"), "*** John left (quit: bye all)"),
        (Left("John", LeaveReason.TOO_SLOW), "*** John left (too slow)"),
        (Left("John", LeaveReason.RESET), "*** John left (connection reset)"),
        (Online(("Alice", "bob")), "*** Online (2): Alice, bob"),
        (Renamed("John", "Johnny"), "*** John is now Johnny"),
        (Pong(""), "*** pong"),
        (Pong("42"), "*** pong 42"),
        (Bye("John"), "*** Bye John!"),
        (ShuttingDown(), "*** server is shutting down"),
        (Error(ErrorCode.SERVER_FULL, "server is full"), "*** error: server is full"),
    ],
)
def test_each_event_has_its_line(event: Event, line: str) -> None:
    assert render(event) == [line]


def test_the_name_question_again_mentions_name() -> None:
    [line] = render(AskName())
    assert line.startswith("*** ")
    assert "name" in line


def test_help_is_one_notice_line_per_command() -> None:
    lines = render(HelpText())
    assert all(line.startswith("*** ") for line in lines)
    for command in (
        "/msg",
        "/reply",
        "/me",
        "/all",
        "//",
        "/who",
        "/nick",
        "/ping",
        "/help",
        "/quit",
    ):
        assert any(command in line for line in lines), command


def test_encoded_lines_end_in_crlf_and_are_utf8() -> None:
    assert encode(Public("Zoë", "hï")) == "<Zoë> hï\r\n".encode()
    assert encode(HelpText()).count(b"\r\n") == len(render(HelpText()))


# --- reading lines back (what clients do) --------------------------------

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,23}", fullmatch=True)
texts = st.text(min_size=1).map(sanitize).filter(lambda t: t != "")


@pytest.mark.parametrize(
    "event",
    [
        Public("Alice", "hi"),
        Action("Alice", "waves"),
        Private("Alice", "psst"),
        PrivateSent("Bob", "psst"),
        Welcome(),
        AskName(),
        Hello("John", ("Alice", "Bob", "John")),
        Hello("J.R.", ("A.", "J.R.")),
        Joined("John", 3),
        Left("John", LeaveReason.QUIT),
        Left("John", LeaveReason.QUIT, "bye (for now)"),
        Left("John", LeaveReason.TOO_SLOW),
        Left("John", LeaveReason.RESET),
        Online(("Alice", "bob")),
        Renamed("John", "Johnny"),
        Pong(""),
        Pong("42 x"),
        Bye("John"),
        ShuttingDown(),
        Notice("Commands:"),
        Joined("John", 2, moved=True),
        RoomEntered("games", ("Alice", "John")),
        Rooms((("Games", 2), ("lobby", 10))),
        HistoryStart("lobby"),
        HistoryEnd("lobby"),
        HistoryLine(Record("", 1_794_913_560.0, "Alice", "hi <there>")),
        HistoryLine(Record("", 1_794_913_560.0, "Alice", "waves", action=True)),
    ],
)
def test_lines_parse_back_to_their_event(event: Event) -> None:
    [line] = render(event)
    assert parse(line) == event


def test_history_lines_look_like_the_contract() -> None:
    record = Record("lobby", 1_794_913_560.0 + 59, "Alice", "text")
    assert render(HistoryLine(record)) == ["*** [2026-11-17 11:06] <Alice> text"]
    assert render(Left("John", LeaveReason.MOVED)) == ["*** John left (moved to another room)"]


def test_errors_parse_back_with_their_text() -> None:
    assert parse("*** error: server is full") == Error(ErrorCode.UNSPECIFIED, "server is full")


def test_a_line_without_a_known_prefix_is_none() -> None:
    assert parse("hello") is None
    assert parse("") is None


def test_message_text_that_looks_like_a_prefix_stays_text() -> None:
    assert parse("<Mallory> *** error: fake") == Public("Mallory", "*** error: fake")
    assert parse("*Al* -> *Bob* x") == Private("Al", "-> *Bob* x")


@given(names, texts, st.sampled_from([Public, Action, Private, PrivateSent]))
def test_any_message_round_trips(name: str, text: str, kind: Callable[[str, str], Event]) -> None:
    event = kind(name, text)
    [line] = render(event)
    assert parse(line) == event


@given(st.lists(names, min_size=1, max_size=8), names)
def test_name_lists_round_trip(online: list[str], me: str) -> None:
    assert parse(render(Hello(me, tuple(online)))[0]) == Hello(me, tuple(online))
    assert parse(render(Online(tuple(online)))[0]) == Online(tuple(online))


def test_away_marks_are_read_back_as_plain_names() -> None:
    line = render(Online(("Alice", "Bob"), frozenset({"Bob"})))[0]
    assert line == "*** Online (2): Alice, Bob (away)"
    assert parse(line) == Online(("Alice", "Bob"))
    assert parse("*** Bob is away: at lunch") == IsAway("Bob", "at lunch")
