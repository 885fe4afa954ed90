import pytest

from asyncchat.events import (
    Action,
    AskName,
    Bye,
    Error,
    ErrorCode,
    Event,
    Hello,
    HelpText,
    Joined,
    LeaveReason,
    Left,
    Online,
    Pong,
    Private,
    PrivateSent,
    Public,
    Renamed,
    ShuttingDown,
    Welcome,
)
from asyncchat.render import encode, render


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
