import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from asyncchat.sanitize import escape_forbidden, has_forbidden, sanitize

BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    return char != "\t" and unicodedata.category(char) == "Cc"


def test_plain_text_is_untouched() -> None:
    text = "hello, wörld\tand 日本語 🎉"
    assert sanitize(text) is text


def test_whole_escape_sequences_are_removed() -> None:
    assert sanitize("\x1b[31mred\x1b[0m") == "red"
    assert sanitize("a\x1b[2J\x1b[Hb") == "ab"
    assert sanitize("\x1b]0;title\x07x") == "x"
    assert sanitize("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert sanitize("\x9b31mred") == "red"
    assert sanitize("\x1bPq#0;2;0;0;0\x1b\\ok") == "ok"
    assert sanitize("a\x1b7b\x1b8c\x1b(Bd") == "abcd"


def test_control_characters_go_but_tab_stays() -> None:
    assert sanitize("a\x00b\x07c\x08d\re\nf\x7fg\x85h\ti") == "abcdefgh\ti"


def test_bidi_overrides_and_isolates_go() -> None:
    assert sanitize("abc\u202edef\u2066x\u2069") == "abcdefx"


def test_a_fake_server_line_cannot_be_made() -> None:
    assert "\n" not in sanitize("hi\r\n*** admin: give me your password")


def test_escape_forbidden_shows_what_was_there() -> None:
    assert escape_forbidden("B\x1b[1mob\u202e") == "B\\x1b[1mob\\u202e"


@given(st.text())
def test_sanitised_text_has_no_control_or_bidi_character(text: str) -> None:
    clean = sanitize(text)
    assert not any(is_control(c) or c in BIDI for c in clean)
    assert not has_forbidden(clean)


@given(st.text())
def test_sanitising_is_idempotent(text: str) -> None:
    assert sanitize(sanitize(text)) == sanitize(text)


@given(st.text())
def test_escaped_text_has_no_forbidden_character(text: str) -> None:
    assert not has_forbidden(escape_forbidden(text))
