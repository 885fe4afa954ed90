"""Per-address admission as a pure table: keys, exemptions, limits, bounds."""

from __future__ import annotations

import pytest

from asyncchat.core.addresses import (
    MAX_RATE_ENTRIES,
    RATE_WINDOW,
    AddressLimits,
    Admission,
    address_key,
    parse_networks,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(
    clock: Clock, exempt: str = "", per_ip: int = 3, unnamed: int = 2, rate: int = 5
) -> Admission:
    return Admission(AddressLimits(per_ip, unnamed, rate, parse_networks(exempt)), clock)


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("not an address") is None


def test_exempt_networks_parse_and_bad_ones_say_which() -> None:
    assert [str(n) for n in parse_networks(" 10.0.0.0/8, ::1 ,")] == ["10.0.0.0/8", "::1/128"]
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an address or CIDR"):
        parse_networks("10.0.0.300")


def test_unnamed_and_open_connections_are_limited_per_address() -> None:
    table = admission(Clock())
    first, second = table.admit("192.0.2.1"), table.admit("192.0.2.1")
    assert first == second == (True, "192.0.2.1")
    assert table.admit("192.0.2.1") == (False, None)  # a third unnamed
    assert table.admit("192.0.2.2")[0]  # another address is not affected
    table.named("192.0.2.1")
    assert table.admit("192.0.2.1")[0]  # named ones make room for unnamed, up to per_ip
    table.named("192.0.2.1")
    assert table.admit("192.0.2.1") == (False, None)  # 3 open: the per-address limit
    table.release("192.0.2.1", was_named=True)
    assert table.admit("192.0.2.1")[0]


def test_the_connect_rate_refills_over_the_window() -> None:
    clock = Clock()
    table = admission(clock, per_ip=100, unnamed=100, rate=5)
    for _ in range(5):
        ok, key = table.admit("192.0.2.1")
        assert ok
        table.release(key, was_named=False)
    assert not table.admit("192.0.2.1")[0]
    clock.now += RATE_WINDOW / 5
    assert table.admit("192.0.2.1")[0]


def test_exempt_addresses_and_hosts_without_an_address_are_not_counted() -> None:
    table = admission(Clock(), exempt="127.0.0.0/8,::1", per_ip=1, unnamed=1, rate=1)
    for host in ("127.0.0.1", "127.0.0.9", "::1", "::ffff:127.0.0.1", None, "/tmp/sock"):
        for _ in range(3):
            assert table.admit(host) == (True, None)
    assert table.tracked == 0


def test_the_tables_forget_addresses_that_are_gone() -> None:
    """Measured as the number of entries held: one per address with a recent connect."""
    clock = Clock()
    table = admission(clock, rate=5)
    for i in range(1000):
        ok, key = table.admit(f"10.0.{i // 256}.{i % 256}")
        assert ok
        table.release(key, was_named=False)
    assert table.tracked == 1000  # only the rate table: each address connected just now
    clock.now += RATE_WINDOW
    assert table.admit("192.0.2.1")[0]
    assert table.tracked == 3  # open, unnamed and rate entries of the one live connection


def test_the_rate_table_has_a_hard_cap() -> None:
    clock = Clock()
    table = admission(clock, rate=5)
    for i in range(MAX_RATE_ENTRIES + 10):
        _, key = table.admit(f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::1")
        table.release(key, was_named=False)
    assert table.tracked <= MAX_RATE_ENTRIES
