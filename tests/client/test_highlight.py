"""Mentions and nick colours, as pure functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asyncchat.client.highlight import NICK_COLOURS, mentions, nick_class


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        ("hi john!", True),
        ("JOHN: look", True),
        ("thanks, John.", True),
        ("ask @john", True),
        ("johnny is here", False),
        ("john-paul said so", False),
        ("mr.john", False),
        ("nobody", False),
    ],
)
def test_a_mention_is_the_name_as_a_word(text: str, mentioned: bool) -> None:
    assert mentions(text, "John") is mentioned


def test_no_name_mentions_nothing() -> None:
    assert not mentions("anything", "")


def test_a_nick_keeps_its_colour_across_runs_and_case() -> None:
    here = nick_class("Alice")
    assert nick_class("alice") == nick_class("ALICE") == here
    code = "from asyncchat.client.highlight import nick_class; print(nick_class('Alice'))"
    elsewhere = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert elsewhere == here  # not Python's hash(), which changes from run to run


def test_nicks_spread_over_every_colour() -> None:
    used = {nick_class(f"user{i}") for i in range(200)}
    assert used == {f"nick{i}" for i in range(NICK_COLOURS)}
