import pytest

from asyncchat.client.completion import completions
from asyncchat.core.commands import (
    Act,
    Help,
    Join,
    ListRooms,
    Malformed,
    Nick,
    Ping,
    Quit,
    Register,
    Reply,
    Say,
    Unknown,
    Whisper,
    Who,
)
from asyncchat.core.events import AskName, Error, ErrorCode
from asyncchat.frontends.line.framing import InvalidUtf8, Line, LineTooLong, SubnegotiationTooLong
from asyncchat.frontends.line.parser import (
    COMMAND_WORDS,
    COMMANDS,
    help_lines,
    interpret,
    parse_command,
)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello all", Say("hello all")),
        ("  padded  ", Say("padded")),
        ("Bob: hi", Whisper("Bob", "hi")),
        ("Bob:hi", Whisper("Bob", "hi")),
        ("bob:   hi there  ", Whisper("bob", "hi there")),
        ("http://example.com", Say("http://example.com")),
        ("Bob: //not private", Say("Bob: //not private")),
        ("12:30 works for me", Say("12:30 works for me")),
        ("Bob : hi", Say("Bob : hi")),
        ("a b: c", Say("a b: c")),
        ("/msg Bob hi there", Whisper("Bob", "hi there")),
        ("/msg\tBob  hi", Whisper("Bob", "hi")),
        ("/reply ok", Reply("ok")),
        ("/r ok", Reply("ok")),
        ("/me waves", Act("waves")),
        ("/all Bob: hi", Say("Bob: hi")),
        ("//slash", Say("/slash")),
        ("/who", Who()),
        ("/names", Who()),
        ("/USERS", Who()),
        ("/nick Johnny", Nick("Johnny")),
        ("/ping", Ping("")),
        ("/ping abc 123", Ping("abc 123")),
        ("/help", Help()),
        ("/join #games", Join("#games")),
        ("/rooms", ListRooms()),
        ("/quit", Quit(None)),
        ("/quit gone fishing", Quit("gone fishing")),
        ("/anything-else", Unknown("/anything-else")),
        ("/", Unknown("/")),
    ],
)
def test_lines_parse_to_commands(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_blank_lines_are_nothing(line: str) -> None:
    assert parse_command(line) is None


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/msg", "usage: /msg NAME message"),
        ("/msg Bob", "usage: /msg NAME message"),
        ("/me", "usage: /me"),
        ("/reply", "usage: /reply"),
        ("/all", "usage: /all"),
        ("/nick", "usage: /nick"),
        ("/join", "usage: /join ROOM"),
        ("Bob:", "type 'Bob: your message'"),
        ("\x1b[2J", "nothing left to send"),
    ],
)
def test_incomplete_commands_say_how_to_use_them(line: str, usage: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Malformed)
    assert usage in command.problem


def test_message_text_is_sanitised() -> None:
    assert parse_command("hi \x1b[31mred\u202e") == Say("hi red")
    assert parse_command("/me \x07beeps") == Act("beeps")
    assert parse_command("Bob: \x1b[2Jhi") == Whisper("Bob", "hi")


def test_a_control_character_in_the_address_cannot_make_a_line_public() -> None:
    assert parse_command("Bo\x07b: secret") == Whisper("Bob", "secret")


def test_nick_names_are_passed_on_raw_to_be_refused() -> None:
    assert parse_command("/nick Jo\x1bhn") == Nick("Jo\x1bhn")


@pytest.mark.parametrize("word", COMMAND_WORDS)
def test_every_completed_command_word_is_a_command(word: str) -> None:
    assert not isinstance(parse_command(f"/{word} x y"), Unknown)


@pytest.mark.parametrize(
    "line", ["\u200b", "\u200b \ufeff", "\u3164", "/me \u200b", "/msg Bob \u2060"]
)
def test_a_message_of_only_invisible_characters_is_refused(line: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Malformed)
    assert "nothing left to send" in command.problem


def test_an_address_hiding_an_invisible_character_stays_private() -> None:
    assert parse_command("Bob\u200b: hi") == Whisper("Bob\u200b", "hi")
    assert parse_command("Bob: \u200bhi") == Whisper("Bob", "\u200bhi")


def test_framing_errors_are_answered_by_the_line_front_end() -> None:
    assert interpret(LineTooLong(2048), naming=False) == [
        Error(ErrorCode.LINE_TOO_LONG, "line too long (the limit is 2048 bytes); it was not sent")
    ]
    assert interpret(InvalidUtf8(), naming=False) == [
        Error(ErrorCode.INVALID_UTF8, "that line was not valid UTF-8; it was not sent")
    ]
    assert interpret(SubnegotiationTooLong(64), naming=False) == [
        Error(
            ErrorCode.LINE_TOO_LONG,
            "telnet subnegotiation too long (the limit is 64 bytes); discarded",
        )
    ]


def test_framing_errors_while_naming_ask_for_the_name_again() -> None:
    said = interpret(InvalidUtf8(), naming=True)
    assert isinstance(said, list)
    assert [type(event) for event in said] == [Error, AskName]


def test_the_first_lines_are_the_name() -> None:
    assert interpret(Line("  Alice "), naming=True) == Register("  Alice ")
    assert interpret(Line("   "), naming=True) is None
    assert interpret(Line("Bob: hi"), naming=True) == Register("Bob: hi")
    assert interpret(Line("Bob: hi"), naming=False) == Whisper("Bob", "hi")


def test_the_command_table_is_the_one_source_of_parser_help_and_completion() -> None:
    help_text = "\n".join(help_lines(operator=True))
    offered = set(completions("/", ()))
    for spec in COMMANDS:
        assert spec.synopsis in help_text
        assert (spec.synopsis in "\n".join(help_lines())) is not spec.operator
        for word in (spec.word, *spec.aliases):
            assert not isinstance(parse_command(f"/{word} x"), Unknown)
            assert f"/{word}" in offered
    assert set(COMMAND_WORDS) == {w for s in COMMANDS for w in (s.word, *s.aliases)}
