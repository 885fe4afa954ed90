"""Look-alike names (UTS #39 skeletons through ICU) and names mixing scripts."""

from __future__ import annotations

import pytest
from chatroom import Room

from asyncchat.core.lookalike import mixes_scripts, skeleton
from asyncchat.core.names import name_key, parse_name


@pytest.mark.parametrize(
    "lookalike",
    ["\u0410lice", "\u0391lice", "Al\u0131ce", "ALICE"],  # Cyrillic A, Greek Alpha, dotless i
)
def test_look_alikes_of_alice_share_her_skeleton(lookalike: str) -> None:
    assert skeleton(name_key(lookalike)) == skeleton(name_key("Alice"))


def test_a_digit_that_looks_like_a_letter_is_a_look_alike() -> None:
    assert skeleton(name_key("b0b")) == skeleton(name_key("Bob"))


@pytest.mark.parametrize("name", ["Ελένη", "Иван", "山田", "محمد", "José", "Zoë", "山田Taro"])
def test_names_in_one_script_as_people_write_are_valid(name: str) -> None:
    assert parse_name(name).display == name
    assert not mixes_scripts(name)


def test_names_mixing_latin_with_cyrillic_or_greek_are_not_valid() -> None:
    chat = Room()
    chat.connect("x")
    said = chat.say("x", "P\u0430ypal")  # Cyrillic a
    assert said[0] == (
        "x",
        "*** error: 'P\u0430ypal' is not a valid name: it mixes alphabets as no one "
        "writes them (like Latin with Cyrillic)",
    )
    assert mixes_scripts("\u0391lice")


def test_the_contracts_look_alikes_say_what_they_look_like() -> None:
    chat = Room()
    chat.join("Alice")
    chat.connect("x")
    for wanted, like in [
        ("\u0410lice", "Alice"),  # Cyrillic A
        ("\u0391lice", "Alice"),  # Greek Alpha
        ("Al\u0131ce", "Alice"),  # dotless i
        ("\u0405erver", "server"),  # Cyrillic S
    ]:
        assert chat.say("x", wanted)[0] == (
            "x",
            f"*** error: '{wanted}' looks too much like '{like}'",
        )


def test_a_name_that_looks_like_one_online_is_refused_until_it_is_free() -> None:
    chat = Room()
    chat.join("Alice")
    chat.connect("x")
    assert chat.say("x", "Al\u0131ce") == [
        ("x", "*** error: 'Al\u0131ce' looks too much like 'Alice'"),
        ("x", "*** Please choose another name: type your name and press Enter."),
    ]
    chat.say("Alice", "/quit")
    assert chat.say("x", "Al\u0131ce")[0] == (
        "x",
        "*** Hello Al\u0131ce! Online (1): Al\u0131ce. Type /help for commands.",
    )


def test_nick_to_a_look_alike_is_refused_and_to_ones_own_case_is_not() -> None:
    chat = Room()
    chat.join("Alice", "Bob")
    assert chat.say("Bob", "/nick Al\u0131ce") == [
        ("Bob", "*** error: 'Al\u0131ce' looks too much like 'Alice'")
    ]
    assert chat.say("Alice", "/nick ALICE") == [
        ("Alice", "*** Alice is now ALICE"),
        ("Bob", "*** Alice is now ALICE"),
    ]
