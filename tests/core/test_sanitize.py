import unicodedata
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core.sanitize import (
    DEFAULT_IGNORABLE,
    escape_forbidden,
    has_forbidden,
    invisible_characters,
    invisible_only,
    sanitize,
)

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


def is_tag(char: str) -> bool:
    return "\U000e0000" <= char <= "\U000e007f"


def is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def longest_mark_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if is_mark(char) else 0
        longest = max(longest, run)
    return longest


def test_tag_characters_go() -> None:
    assert sanitize("hi\U000e0001\U000e0068\U000e0069\U000e007f there") == "hi there"
    assert sanitize("\U000e0000x\U000e0020") == "x"


def test_a_tag_sequence_flag_is_left_as_its_black_flag() -> None:
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert sanitize(england) == "\U0001f3f4"


def test_more_than_four_combining_marks_in_a_row_are_cut_to_four() -> None:
    marks = "\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307"
    assert sanitize("Z" + marks + "a") == "Z" + marks[:4] + "a"
    assert sanitize("e" + marks[:5]) == "e" + marks[:4]
    assert sanitize(("H" + marks) * 3) == ("H" + marks[:4]) * 3
    assert sanitize("\u0489" * 50) == "\u0489" * 4  # an enclosing mark (Me)


def test_four_combining_marks_in_a_row_stay() -> None:
    text = "e\u0300\u0301\u0302\u0303 and \u0915\u093f\u0902\u0951\u0952"
    assert sanitize(text) is text


def test_astral_combining_marks_count_and_astral_letters_do_not() -> None:
    stem = "\U0001d165"  # MUSICAL SYMBOL COMBINING STEM (Mc)
    assert sanitize("a" + stem * 7) == "a" + stem * 4
    assert sanitize("a\u0301\u0301" + stem * 3 + "b") == "a\u0301\u0301" + stem * 2 + "b"
    emoji = "🎉😀👍🏽🎉😀👍🎉"
    assert sanitize(emoji) == emoji
    assert sanitize("x\u0301\u0301\u0301\u0301🎉🎉🎉") == "x\u0301\u0301\u0301\u0301🎉🎉🎉"


def test_marks_that_a_removed_character_kept_apart_count_as_one_run() -> None:
    assert sanitize("a\u0301\u0302\u0303\x07\u0304\u0305\u0306") == "a\u0301\u0302\u0303\u0304"
    assert sanitize("a\u0301\u0302\U000e0041\u0303\u0304\u0305") == "a\u0301\u0302\u0303\u0304"


@pytest.mark.parametrize(
    "text",
    [
        "family 👨\u200d👩\u200d👧 and 🏳️\u200d🌈",  # ZWJ emoji sequences
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ
        "I ❤️ it, 1️⃣ ✌🏾",  # variation selectors, keycap, skin tone
        "Jose\u0301 and Vie\u0323\u0302t",  # accents in decomposed form
        "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",  # Hebrew points
        "\u0928\u092e\u0938\u094d\u0924\u0947",  # Devanagari
        "soft\u00adhyphen, zero\u200bwidth",  # invisible, but not removed from text
    ],
)
def test_legitimate_text_is_kept(text: str) -> None:
    assert sanitize(text) is text


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\u200b\u200b", "\u3164", " \ufeff ", "\u2800", "\ufe0f", "\U000e0041", "\u00ad\t"],
)
def test_text_of_nothing_but_invisible_characters_and_spaces_is_invisible_only(text: str) -> None:
    assert invisible_only(text)


@pytest.mark.parametrize("text", ["a", " a ", "a\u200b", "\u3164x", "👍", "\u0301", ".", "\ue000"])
def test_text_with_anything_visible_is_not_invisible_only(text: str) -> None:
    assert not invisible_only(text)


def test_escape_forbidden_shows_invisible_characters() -> None:
    assert escape_forbidden("Alice\u3164") == "Alice\\u3164"
    assert escape_forbidden("\u200bBob\ufeff") == "\\u200bBob\\ufeff"
    assert escape_forbidden("x\U000e0041\ue000") == "x\\U000e0041\\ue000"
    assert escape_forbidden("Zoë, 李雷") == "Zoë, 李雷"


def test_the_default_ignorable_table_is_sorted_and_holds_the_contract_examples() -> None:
    assert all(first <= last for first, last in DEFAULT_IGNORABLE)
    assert all(last < next_first for (_, last), (next_first, _) in pairwise(DEFAULT_IGNORABLE))
    for cp in (0x200B, 0x3164, 0xFFA0, 0x115F, 0x1160, 0xFEFF, 0xE0000, 0xE007F, 0xFE0F, 0xE0100):
        assert any(first <= cp <= last for first, last in DEFAULT_IGNORABLE), hex(cp)


def test_every_format_character_is_invisible() -> None:
    formats = [chr(cp) for cp in range(0x20000) if unicodedata.category(chr(cp)) == "Cf"]
    assert formats
    assert invisible_characters("".join(formats)) == formats


# Text that is rich in what sanitize works on: marks, tags, controls, escapes.
hostile = st.text(
    st.one_of(
        st.characters(),
        st.characters(categories=["Mn", "Mc", "Me"]),
        st.characters(min_codepoint=0xE0000, max_codepoint=0xE007F),
        st.sampled_from("\x1b[\x07\x9b\u202e\u2066\u200d\ufe0f\u3164 a"),
    )
)


@given(hostile)
def test_sanitised_text_has_no_forbidden_tag_or_long_mark_run(text: str) -> None:
    clean = sanitize(text)
    assert not any(is_control(c) or c in BIDI or is_tag(c) for c in clean)
    assert not has_forbidden(clean)
    assert longest_mark_run(clean) <= 4


@given(hostile)
def test_sanitising_hostile_text_is_idempotent(text: str) -> None:
    assert sanitize(sanitize(text)) == sanitize(text)


@given(hostile)
def test_sanitising_only_removes_characters(text: str) -> None:
    rest = iter(text)
    assert all(char in rest for char in sanitize(text))


@given(hostile)
def test_text_that_needs_nothing_comes_back_as_it_is(text: str) -> None:
    if has_forbidden(text) or longest_mark_run(text) > 4:
        return
    assert sanitize(text) is text


@given(hostile)
def test_escaped_text_shows_nothing_invisible(text: str) -> None:
    escaped = escape_forbidden(text)
    assert not has_forbidden(escaped)
    assert not invisible_characters(escaped)


@given(st.text(st.sampled_from(" \t\u200b\u200c\u200d\u2060\ufeff\u3164\uffa0\u115f\u2800\ufe0f")))
def test_invisible_only_holds_for_any_mix_of_invisible_characters(text: str) -> None:
    assert invisible_only(text)
    assert not invisible_only(text + "x")


def first_four_marks_of_each_run(text: str) -> str:
    kept = []
    run = 0
    for char in text:
        run = run + 1 if is_mark(char) else 0
        if run <= 4:
            kept.append(char)
    return "".join(kept)


@given(st.text(st.one_of(st.characters(categories=["L", "N"]), st.characters(categories=["M"]))))
def test_only_the_marks_past_the_fourth_of_a_run_go(text: str) -> None:
    assert sanitize(text) == first_four_marks_of_each_run(text)
