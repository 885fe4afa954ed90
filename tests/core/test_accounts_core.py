"""Accounts, wrong-password attempts, bans, mutes and password hashing, without a server."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core import attempts as attempts_module
from asyncchat.core.accounts import Account, AccountBook
from asyncchat.core.attempts import MAX_FAILURES, WINDOW, Attempts
from asyncchat.core.moderation import (
    Ban,
    BanKind,
    BanList,
    Mute,
    MuteList,
    covers,
    parse_network,
)
from asyncchat.core.names import Name, name_key
from asyncchat.core.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    hash_password,
    password_problem,
    verify_password,
)

NOW = 1_794_913_560.0


def name(display: str) -> Name:
    """A name as the hub compares it (not validated: look-alikes mix scripts)."""
    return Name(display, name_key(display))


def registered(display: str, created: float = NOW) -> Account:
    return Account(display, name_key(display), f"$argon2id$hash-of-{display}", created)


# AccountBook


def test_the_book_finds_accounts_by_key() -> None:
    alice, bob = registered("Alice"), registered("Bob")
    book = AccountBook(10, [alice, bob])
    assert len(book) == 2
    assert book.get("alice") is alice
    assert book.get("bob") is bob
    assert book.get("Alice") is None  # keys are what name_key gives
    assert book.get("carol") is None


@pytest.mark.parametrize(
    "lookalike",
    ["\u0410lice", "\u0391lice", "Al\u0131ce"],  # Cyrillic A, Greek Alpha, dotless i
)
def test_a_look_alike_of_a_registered_name_is_found(lookalike: str) -> None:
    alice = registered("Alice")
    book = AccountBook(10, [alice])
    assert name(lookalike).key != "alice"
    assert book.looks_like(name(lookalike)) is alice


@pytest.mark.parametrize("same", ["Alice", "ALICE", "alice", "\uff21lice"])  # full-width A
def test_the_registered_name_itself_is_not_a_look_alike(same: str) -> None:
    book = AccountBook(10, [registered("Alice")])
    assert book.looks_like(name(same)) is None
    assert book.get(name(same).key) is not None


def test_a_different_name_is_no_look_alike() -> None:
    book = AccountBook(10, [registered("Alice")])
    assert book.looks_like(name("Alicia")) is None
    assert book.looks_like(name("Bob")) is None


def test_a_removed_account_is_gone_by_key_and_by_look() -> None:
    alice, bob = registered("Alice"), registered("Bob")
    book = AccountBook(10, [alice, bob])
    assert book.remove("alice") is alice
    assert book.get("alice") is None
    assert book.looks_like(name("\u0410lice")) is None
    assert book.remove("alice") is None
    assert len(book) == 1
    assert book.get("bob") is bob


def test_replacing_an_account_keeps_one_entry_and_its_look() -> None:
    book = AccountBook(10, [registered("Alice")])
    newer = Account("ALICE", "alice", "$argon2id$new", NOW + 1)
    book.add(newer)
    assert len(book) == 1
    assert book.get("alice") is newer
    assert book.looks_like(name("\u0410lice")) is newer


def test_the_book_is_full_at_its_limit() -> None:
    book = AccountBook(2)
    assert not book.full
    book.add(registered("Alice"))
    assert not book.full
    book.add(registered("Bob"))
    assert book.full
    book.add(Account("Bob", "bob", "$argon2id$other"))  # a replacement adds nothing
    assert len(book) == 2
    book.remove("alice")
    assert not book.full


def test_loading_more_accounts_than_the_limit_keeps_them_all() -> None:
    accounts = [registered(n) for n in ("Alice", "Bob", "Carol")]
    book = AccountBook(2, accounts)
    assert len(book) == 3
    assert book.full
    assert [book.get(a.key) for a in accounts] == accounts


def test_an_accounts_repr_does_not_show_its_hash() -> None:
    alice = registered("Alice")
    assert alice.secret not in repr(alice)
    assert "Alice" in repr(alice)


def test_two_look_alike_accounts_from_a_file_both_guard_their_look() -> None:
    """A file may hold two accounts that look alike (registered before the skeletons
    changed, say): whichever is removed, the other still answers for the look."""
    latin, cyrillic = registered("Alice"), registered("\u0410lice")
    assert latin.skeleton == cyrillic.skeleton
    book = AccountBook(10, [latin, cyrillic])
    book.remove("alice")
    assert book.get(cyrillic.key) is cyrillic
    assert book.looks_like(name("\u0391lice")) is cyrillic  # Greek Alpha


# Attempts


def test_three_failures_make_the_name_wait_for_the_window() -> None:
    attempts = Attempts()
    for _ in range(MAX_FAILURES - 1):
        attempts.failed("alice", "192.0.2.1", NOW)
    assert attempts.wait("alice", "192.0.2.1", NOW) == 0
    attempts.failed("alice", "192.0.2.1", NOW)
    assert attempts.wait("alice", "192.0.2.1", NOW) == 60 == WINDOW
    assert attempts.wait("alice", "192.0.2.1", NOW + 30) == 30
    assert attempts.wait("alice", "192.0.2.1", NOW + 59.5) == 1  # whole seconds, rounded up
    assert attempts.wait("alice", "192.0.2.1", NOW + 60) == 0
    assert len(attempts) == 0  # a whole window after the last failure: forgotten


def test_the_wait_ends_when_the_oldest_of_the_last_failures_is_a_window_old() -> None:
    attempts = Attempts()
    for t in (0, 10, 20):
        attempts.failed("alice", None, NOW + t)
    assert attempts.wait("alice", None, NOW + 20) == 40
    assert attempts.wait("alice", None, NOW + 60) == 0
    attempts.failed("alice", None, NOW + 60)  # now 10, 20, 60 are within a window
    assert attempts.wait("alice", None, NOW + 60) == 10
    assert len(attempts) == 1


def test_one_address_trying_many_names_waits() -> None:
    attempts = Attempts()
    for who in ("alice", "bob", "carol"):
        attempts.failed(who, "198.51.100.9", NOW)
    assert attempts.wait("dave", "198.51.100.9", NOW + 1) == 59
    assert attempts.wait("dave", "198.51.100.10", NOW + 1) == 0
    assert attempts.wait("alice", "198.51.100.10", NOW + 1) == 0  # one failure for alice


def test_one_name_tried_from_many_addresses_waits() -> None:
    attempts = Attempts()
    for n in range(3):
        attempts.failed("alice", f"203.0.113.{n}", NOW)
    assert attempts.wait("alice", "203.0.113.200", NOW + 2) == 58
    assert attempts.wait("alice", None, NOW + 2) == 58
    assert attempts.wait("bob", "203.0.113.0", NOW + 2) == 0  # one failure from it


def test_without_an_address_only_the_name_counts() -> None:
    attempts = Attempts()
    for who in ("alice", "bob", "carol"):
        attempts.failed(who, None, NOW)
    assert len(attempts) == 3
    assert attempts.wait("dave", None, NOW) == 0
    for _ in range(2):
        attempts.failed("alice", None, NOW)
    assert attempts.wait("alice", "192.0.2.1", NOW) == 60
    assert attempts.wait("bob", "192.0.2.1", NOW) == 0


def test_names_and_addresses_are_counted_apart() -> None:
    """A name spelled like an address does not count for that address."""
    attempts = Attempts()
    for _ in range(3):
        attempts.failed("192.0.2.1", None, NOW)
    assert attempts.wait("bob", "192.0.2.1", NOW) == 0
    assert attempts.wait("192.0.2.1", None, NOW) == 60


def test_the_table_stays_bounded_and_forgets_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attempts_module, "MAX_TRACKED", 10)
    attempts = Attempts()
    for _ in range(3):
        attempts.failed("victim", "192.0.2.1", NOW)
    assert attempts.wait("victim", "192.0.2.1", NOW) == 60
    most = 0
    for n in range(500):
        attempts.failed("guess", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", NOW + n / 100)
        most = max(most, len(attempts))
    assert most == 10
    assert attempts.wait("victim", "192.0.2.1", NOW + 5) == 0  # forgotten first
    last = NOW + 499 / 100
    assert attempts.wait("guess", None, last) == 60  # the name is the newest entry
    assert attempts.wait("anyone", "10.0.1.243", last) == 0  # address 499: one failure
    assert attempts.wait("guess", None, last + WINDOW) == 0
    assert len(attempts) == 0


def test_entries_expire_one_window_after_their_last_failure() -> None:
    attempts = Attempts()
    attempts.failed("alice", "192.0.2.1", NOW)
    attempts.failed("bob", "192.0.2.2", NOW + 30)
    assert len(attempts) == 4
    attempts.wait("x", None, NOW + 59)
    assert len(attempts) == 4
    attempts.wait("x", None, NOW + 60)
    assert len(attempts) == 2
    attempts.wait("x", None, NOW + 90)
    assert len(attempts) == 0


# BanList


def name_ban(key: str, created: float = NOW, until: float | None = None) -> Ban:
    return Ban(BanKind.NAME, key, key, "op", None, created, until)


def net_ban(cidr: str, created: float = NOW, until: float | None = None) -> Ban:
    return Ban(BanKind.NETWORK, cidr, cidr, "op", "abuse", created, until)


def test_a_name_ban_is_found_by_key() -> None:
    ban = name_ban("mallory")
    bans = BanList(10, [ban])
    assert bans.for_name("mallory", NOW) is ban
    assert bans.for_name("alice", NOW) is None
    assert bans.for_address("192.0.2.1", NOW) is None  # a name ban covers no address


@pytest.mark.parametrize(
    ("cidr", "inside", "outside"),
    [
        ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255", "10.1.2.3"], ["11.0.0.0", "9.255.255.255"]),
        ("192.0.2.7/32", ["192.0.2.7"], ["192.0.2.6", "192.0.2.8"]),
        ("0.0.0.0/0", ["1.2.3.4", "255.255.255.255"], ["2001:db8::1", "::1"]),
        (
            "2001:db8::/32",
            ["2001:db8::1", "2001:db8:ffff:ffff::5"],
            ["2001:db9::1", "2001:db7:ffff::1", "10.0.0.1"],
        ),
        ("2001:db8:0:1::/64", ["2001:db8:0:1:abcd::1"], ["2001:db8:0:2::1"]),
        ("::1/128", ["::1"], ["::2", "127.0.0.1"]),
        (
            "10.0.0.0/8",
            ["::ffff:10.1.2.3", "::FFFF:10.0.0.1"],  # IPv4-mapped IPv6 is its IPv4 address
            ["::ffff:11.0.0.1", "::10.1.2.3", "not an address", ""],
        ),
    ],
)
def test_a_network_ban_covers_the_addresses_in_it(
    cidr: str, inside: list[str], outside: list[str]
) -> None:
    ban = net_ban(cidr)
    bans = BanList(10, [ban])
    for host in inside:
        assert bans.for_address(host, NOW) is ban, host
    for host in outside:
        assert bans.for_address(host, NOW) is None, host
    assert bans.for_address(None, NOW) is None
    assert len(bans) == 1


def test_bans_of_several_lengths_are_all_checked() -> None:
    wide, narrow, v6 = net_ban("10.0.0.0/8"), net_ban("192.0.2.0/24"), net_ban("2001:db8::/48")
    bans = BanList(10, [wide, narrow, v6])
    assert bans.for_address("10.9.9.9", NOW) is wide
    assert bans.for_address("192.0.2.200", NOW) is narrow
    assert bans.for_address("2001:db8:0:7::1", NOW) is v6
    assert bans.for_address("192.0.3.1", NOW) is None


def test_parse_network_maps_ipv4_in_ipv6_to_ipv4() -> None:
    assert parse_network("::ffff:192.0.2.1") == ipaddress.IPv4Network("192.0.2.1/32")
    assert parse_network("::ffff:10.0.0.0/104") == ipaddress.IPv4Network("10.0.0.0/8")
    assert parse_network(" 10.1.2.3/8 ") == ipaddress.IPv4Network("10.0.0.0/8")
    assert parse_network("2001:db8::1") == ipaddress.IPv6Network("2001:db8::1/128")
    assert parse_network("alice") is None
    network = ipaddress.IPv4Network("10.0.0.0/8")
    assert covers(network, "::ffff:10.1.1.1")
    assert not covers(network, "11.1.1.1")
    assert not covers(network, None)
    assert not covers(ipaddress.IPv6Network("::/0"), "10.1.1.1")


def test_an_expired_ban_is_dropped_when_met() -> None:
    by_name = name_ban("mallory", until=NOW + 60)
    by_net = net_ban("10.0.0.0/8", until=NOW + 60)
    bans = BanList(10, [by_name, by_net])
    assert bans.for_name("mallory", NOW + 59.9) is by_name
    assert bans.for_address("10.1.1.1", NOW + 59.9) is by_net
    assert bans.for_name("mallory", NOW + 60) is None
    assert len(bans) == 1
    assert bans.for_address("10.1.1.1", NOW + 60) is None
    assert len(bans) == 0
    assert bans.for_address("10.1.1.1", NOW) is None  # gone, not just hidden


def test_active_lists_bans_in_force_oldest_first() -> None:
    newest = name_ban("zed", created=NOW + 30)
    expired = net_ban("192.0.2.0/24", created=NOW - 100, until=NOW)
    oldest = net_ban("2001:db8::/32", created=NOW - 50)
    middle = name_ban("mallory", created=NOW + 10, until=NOW + 600)
    bans = BanList(10, [newest, expired, oldest, middle])
    assert len(bans) == 4
    assert bans.active(NOW) == [oldest, middle, newest]
    assert len(bans) == 3
    assert bans.for_address("192.0.2.1", NOW - 200) is None  # dropped for good
    assert bans.active(NOW + 600) == [oldest, newest]


def test_a_ban_on_the_same_target_replaces_the_old_one() -> None:
    bans = BanList(10, [net_ban("10.0.0.0/8", until=NOW + 60)])
    forever = net_ban("10.0.0.0/8", created=NOW + 1)
    bans.add(forever)
    assert len(bans) == 1
    assert bans.for_address("10.2.3.4", NOW + 3600) is forever


def test_remove_takes_a_ban_out() -> None:
    by_name, by_net = name_ban("mallory"), net_ban("10.0.0.0/8")
    bans = BanList(10, [by_name, by_net, net_ban("10.1.0.0/16")])
    assert bans.remove(BanKind.NETWORK, "10.0.0.0/8") is by_net
    assert bans.remove(BanKind.NETWORK, "10.0.0.0/8") is None
    assert bans.remove(BanKind.NETWORK, "172.16.0.0/12") is None
    assert bans.for_address("10.2.0.1", NOW) is None
    assert bans.for_address("10.1.0.1", NOW) is not None
    assert bans.remove(BanKind.NAME, "mallory") is by_name
    assert bans.for_name("mallory", NOW) is None
    assert bans.remove(BanKind.NAME, "mallory") is None
    assert len(bans) == 1


def test_the_ban_list_is_full_at_its_limit() -> None:
    bans = BanList(2)
    assert not bans.full_at(NOW)
    bans.add(name_ban("a"))
    assert not bans.full_at(NOW)
    bans.add(net_ban("10.0.0.0/8"))
    assert bans.full_at(NOW)
    assert len(bans) == 2
    bans.remove(BanKind.NAME, "a")
    assert not bans.full_at(NOW)


ipv4_networks = st.builds(
    lambda address, length: ipaddress.IPv4Network((address, length), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
ipv4_addresses = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))


def near(networks: list[ipaddress.IPv4Network]) -> st.SearchStrategy[ipaddress.IPv4Address]:
    """Addresses at the edges of the networks, where an off-by-one would show."""
    edges = [
        ipaddress.IPv4Address(int(edge) + step)
        for network in networks
        for edge in (network.network_address, network.broadcast_address)
        for step in (-1, 0, 1)
        if 0 <= int(edge) + step < 2**32
    ]
    return st.sampled_from(edges)


@given(st.data(), st.lists(ipv4_networks, min_size=1, max_size=4))
def test_ipv4_bans_agree_with_ipaddress(
    data: st.DataObject, networks: list[ipaddress.IPv4Network]
) -> None:
    host = data.draw(st.one_of(ipv4_addresses, near(networks)))
    bans = BanList(100, [net_ban(str(network)) for network in networks])
    found = bans.for_address(str(host), NOW)
    inside = [n for n in networks if ipaddress.ip_address(str(host)) in ipaddress.ip_network(n)]
    assert (found is not None) == bool(inside)
    if found is not None:
        assert host in ipaddress.ip_network(found.target)
    mapped = bans.for_address(f"::ffff:{host}", NOW)
    assert mapped is found


@given(ipv4_networks, ipv4_addresses)
def test_one_ipv4_ban_agrees_with_ipaddress(
    network: ipaddress.IPv4Network, host: ipaddress.IPv4Address
) -> None:
    bans = BanList(1, [net_ban(str(network))])
    expected = ipaddress.ip_address(str(host)) in ipaddress.ip_network(str(network))
    assert (bans.for_address(str(host), NOW) is not None) == expected


# MuteList


def test_a_mute_lasts_until_it_expires() -> None:
    timed = Mute("eve", "Eve", "op", NOW, NOW + 60)
    forever = Mute("trent", "Trent", "op", NOW)
    mutes = MuteList(10, [timed, forever])
    assert mutes.get("eve", NOW + 59.9) is timed
    assert mutes.get("alice", NOW) is None
    assert mutes.get("eve", NOW + 60) is None
    assert len(mutes) == 1
    assert mutes.get("eve", NOW) is None  # dropped, not hidden
    assert mutes.get("trent", NOW + 10**9) is forever


def test_mutes_are_replaced_removed_and_bounded() -> None:
    mutes = MuteList(2)
    mutes.add(Mute("eve", "Eve", "op", NOW, NOW + 60))
    longer = Mute("eve", "EVE", "root", NOW + 1)
    mutes.add(longer)
    assert len(mutes) == 1
    assert not mutes.full_at(NOW)
    assert mutes.get("eve", NOW + 3600) is longer
    mutes.add(Mute("trent", "Trent", "op"))
    assert mutes.full_at(NOW)
    assert mutes.remove("eve") is longer
    assert mutes.remove("eve") is None
    assert not mutes.full_at(NOW)


# Passwords


@pytest.fixture(scope="module")
def secret() -> str:
    return hash_password("correct-horse-battery")


def test_a_hash_verifies_its_password_only(secret: str) -> None:
    assert secret.startswith("$argon2id$v=19$")
    assert "correct-horse-battery" not in secret
    assert verify_password(secret, "correct-horse-battery")
    assert not verify_password(secret, "correct-horse-batterY")
    assert not verify_password(secret, "")
    assert hash_password("correct-horse-battery") != secret  # salted


def test_non_ascii_passwords_hash_and_verify() -> None:
    secret = hash_password("pässwörd-☃-密码")
    assert verify_password(secret, "pässwörd-☃-密码")
    assert not verify_password(secret, "passwörd-☃-密码")


def _flip_last(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: "not a hash", id="text"),
        pytest.param(lambda s: s[: len(s) // 2], id="truncated"),
        pytest.param(lambda s: s[:-5], id="hash-cut"),
        pytest.param(_flip_last, id="hash-changed"),
        pytest.param(lambda s: s.replace("$argon2id$", "$argon2x$"), id="unknown-type"),
        pytest.param(lambda s: s.replace("$argon2id$", "$argon2i$"), id="other-type"),
        pytest.param(lambda s: s.replace("p=1", "p=0"), id="no-lanes"),
        pytest.param(lambda s: s.replace("t=2", "t=0"), id="no-passes"),
        pytest.param(lambda s: s.replace("m=19456", "m=4294967295"), id="huge-memory"),
        pytest.param(
            lambda s: s[:-3] + "é" + s[-2:],
            id="non-ascii",
        ),
    ],
)
def test_a_damaged_hash_matches_nothing(secret: str, damage: Callable[[str], str]) -> None:
    damaged = damage(secret)
    assert damaged != secret
    assert verify_password(damaged, "correct-horse-battery") is False


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a" * (MIN_PASSWORD - 1), "a password needs at least 8 characters"),
        ("", "a password needs at least 8 characters"),
        ("a" * MIN_PASSWORD, None),
        ("two words here", "a password is one word: it cannot contain spaces"),
        ("tab\tinside", "a password is one word: it cannot contain spaces"),
        ("no-break\u00a0space", "a password is one word: it cannot contain spaces"),
        (" leading-space", "a password is one word: it cannot contain spaces"),
        ("a b", "a password is one word: it cannot contain spaces"),
        ("x" * MAX_PASSWORD, None),
        ("x" * (MAX_PASSWORD + 1), "a password may have at most 200 characters"),
        ("密" * MIN_PASSWORD, None),
    ],
)
def test_password_problem_says_why(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


def test_expired_entries_do_not_count_against_the_limit() -> None:
    bans = BanList(1, [Ban(BanKind.NAME, "eve", "Eve", "op", None, NOW, NOW + 60)])
    mutes = MuteList(1, [Mute("eve", "Eve", "op", NOW, NOW + 60)])
    assert bans.full_at(NOW)
    assert mutes.full_at(NOW)
    assert not bans.full_at(NOW + 61)
    assert not mutes.full_at(NOW + 61)
    assert len(bans) == 0
    assert len(mutes) == 0
