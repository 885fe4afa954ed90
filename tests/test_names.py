import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.names import InvalidName, looks_like_name, name_key, parse_name


@pytest.mark.parametrize("name", ["John", "j", "a_b-c.d", "Zoë", "Иван", "李雷", "x2", "R2-D2"])
def test_valid_names(name: str) -> None:
    assert parse_name(name).display == name


def test_surrounding_whitespace_is_stripped() -> None:
    assert parse_name("  John \t").display == "John"


def test_names_compare_without_case() -> None:
    assert parse_name("John").key == parse_name("JOHN").key == parse_name("john").key


def test_nfkc_makes_full_width_letters_plain() -> None:
    name = parse_name("ＪＯＨＮ")
    assert name.display == "JOHN"
    assert name.key == parse_name("john").key


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("x" * 25, "at most 24"),
        ("John Smith", "only letters"),
        ("J@hn", "only letters"),
        ("Jo\x1bhn", "only letters"),
        ("Jo\u202ehn", "only letters"),
        ("1234", "at least one letter"),
        ("_-.", "at least one letter"),
        ("server", "reserved"),
        ("ALL", "reserved"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        parse_name(name)


def test_the_length_limit_counts_characters_after_nfkc() -> None:
    assert parse_name("é" * 24).display == "é" * 24
    assert parse_name("ﬁ" * 12).display == "fi" * 12
    with pytest.raises(InvalidName):
        parse_name("ﬁ" * 13)


def test_looks_like_name_ignores_reservations() -> None:
    assert looks_like_name("server")
    assert not looks_like_name("12")
    assert not looks_like_name("http//x")


@given(st.text())
def test_name_keys_are_idempotent(text: str) -> None:
    assert name_key(name_key(text)) == name_key(text)


@given(st.text())
def test_a_parsed_name_parses_to_itself(text: str) -> None:
    try:
        name = parse_name(text)
    except InvalidName:
        return
    assert parse_name(name.display) == name
