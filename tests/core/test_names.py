import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core.names import InvalidName, looks_like_name, name_key, parse_name, parse_room
from asyncchat.core.sanitize import invisible_characters


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


# The contract's examples (v1.2, "Invisible names are refused").
INVISIBLE = [
    0x200B,  # ZERO WIDTH SPACE
    0x3164,  # HANGUL FILLER
    0xFFA0,  # HALFWIDTH HANGUL FILLER
    0x115F,  # HANGUL CHOSEONG FILLER
    0x1160,  # HANGUL JUNGSEONG FILLER
    0xFEFF,  # ZERO WIDTH NO-BREAK SPACE
    *range(0xE0000, 0xE0080),  # tags
    *range(0xFE00, 0xFE10),  # VARIATION SELECTOR-1..16
    0x180B,  # MONGOLIAN FREE VARIATION SELECTOR ONE
    0xE0100,  # VARIATION SELECTOR-17
    0xE01EF,  # VARIATION SELECTOR-256
    0x200C,  # ZERO WIDTH NON-JOINER
    0x200D,  # ZERO WIDTH JOINER
    0x2060,  # WORD JOINER
    0x00AD,  # SOFT HYPHEN
    0x034F,  # COMBINING GRAPHEME JOINER
    0x061C,  # ARABIC LETTER MARK
    0x0600,  # ARABIC NUMBER SIGN: format (Cf), not default-ignorable
    0x2800,  # BRAILLE PATTERN BLANK
]


def code_point(cp: int) -> str:
    return f"U+{cp:04X}"


@pytest.mark.parametrize("cp", INVISIBLE, ids=code_point)
@pytest.mark.parametrize("where", ["{}Alice", "Al{}ice", "Alice{}"])
def test_a_name_with_an_invisible_character_is_refused_naming_it(cp: int, where: str) -> None:
    name = where.format(chr(cp))
    with pytest.raises(InvalidName, match="invisible characters") as refused:
        parse_name(name)
    assert f"({code_point(cp)})" in str(refused.value)
    assert not looks_like_name(name)


@pytest.mark.parametrize("cp", INVISIBLE, ids=code_point)
def test_a_room_name_with_an_invisible_character_is_refused_naming_it(cp: int) -> None:
    with pytest.raises(InvalidName, match=re.escape(f"invisible characters ({code_point(cp)})")):
        parse_room(f"#ga{chr(cp)}mes")


@pytest.mark.parametrize("cp", [0x3164, 0xFFA0, 0x115F, 0x1160], ids=code_point)
def test_a_name_of_fillers_alone_is_refused(cp: int) -> None:
    with pytest.raises(InvalidName, match=re.escape(f"invisible characters ({code_point(cp)})")):
        parse_name(chr(cp) * 3)


def test_alice_with_a_hangul_filler_is_refused_saying_exactly_why() -> None:
    with pytest.raises(InvalidName) as refused:
        parse_name("Alice\u3164")
    assert str(refused.value) == "a name cannot contain invisible characters (U+3164)"
    assert parse_name("Alice").display == "Alice"


def test_a_format_character_also_breaks_the_character_rule_and_says_both() -> None:
    with pytest.raises(InvalidName) as refused:
        parse_name("Al\u200bi\u200bce")
    assert str(refused.value) == (
        "a name cannot contain invisible characters (U+200B), "
        "and may contain only letters, digits, '_', '-' and '.'"
    )


def test_many_invisible_characters_are_listed_up_to_four() -> None:
    with pytest.raises(InvalidName) as refused:
        parse_name("A\u200b\u200c\u200d\u2060\ufeffb")
    assert "(U+200B, U+200C, U+200D, U+2060, …)" in str(refused.value)


@pytest.mark.parametrize("cp", [0xE000, 0xF8FF, 0xF0000, 0x10FFFD], ids=code_point)
def test_a_name_with_a_private_use_character_is_refused_naming_it(cp: int) -> None:
    with pytest.raises(InvalidName, match=re.escape(f"private-use characters ({code_point(cp)})")):
        parse_name(f"Bob{chr(cp)}")
    with pytest.raises(InvalidName, match="private-use"):
        parse_room(f"#Bob{chr(cp)}")
    assert not looks_like_name(f"Bob{chr(cp)}")


@pytest.mark.parametrize(
    "name", ["José", "Юля", "李雷", "Ünal", "O.Brien-2", "Zoë", "Ἀλέξανδρος", "Nguyễn", "ذكي"]
)
def test_international_names_stay_valid(name: str) -> None:
    assert parse_name(name).display == name
    assert parse_room(f"#{name}").display == name
    assert looks_like_name(name)


def test_an_accent_typed_as_a_combining_mark_is_composed_and_accepted() -> None:
    assert parse_name("Jose\u0301").display == "José"


@given(st.text(), st.sampled_from(INVISIBLE))
def test_no_name_holds_an_invisible_character(text: str, cp: int) -> None:
    with pytest.raises(InvalidName):
        parse_name(text[: len(text) // 2] + chr(cp) + text[len(text) // 2 :])


@given(st.text())
def test_an_accepted_name_has_nothing_invisible_or_private(text: str) -> None:
    try:
        name = parse_name(text)
    except InvalidName:
        return
    assert not invisible_characters(name.display)
    assert all(unicodedata.category(c) != "Co" for c in name.display)
