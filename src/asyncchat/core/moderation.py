"""Bans and mutes: what operators decided, looked up at connect, naming and speaking.

A ban names a user (by name key, so any case or width of it) or a network
(an address is a /32 or /128). Network bans are kept by prefix length, so
checking an address costs one lookup per length in use, not one per ban.
Expired entries are dropped when met. Both tables are bounded by `limit`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from asyncchat.core.addresses import Network


class BanKind(Enum):
    NAME = "name"
    NETWORK = "network"


@dataclass(frozen=True, slots=True)
class Ban:
    """`target`: a name key or a network in CIDR form; `until` None: until /unban."""

    kind: BanKind
    target: str
    shown: str
    by: str
    reason: str | None = None
    created: float = 0.0
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Mute:
    key: str
    name: str
    by: str
    created: float = 0.0
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


def parse_network(text: str) -> Network | None:
    """An address or CIDR (an IPv4-mapped IPv6 address as IPv4), or None."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def covers(network: Network, host: str | None) -> bool:
    """Whether the address `host` is in `network`."""
    ip = parse_network(host) if host else None
    if ip is None or ip.version != network.version:
        return False
    return network.supernet_of(ip)  # type: ignore[arg-type]


def _slot(target: str) -> tuple[tuple[int, int], int]:
    """Where a network ban is kept: (IP version, prefix length), network address."""
    network = ipaddress.ip_network(target)
    return (network.version, network.prefixlen), int(network.network_address)


class BanList:
    """Active bans by name key and by network, at most `limit`."""

    __slots__ = ("_by_name", "_by_network", "limit")

    def __init__(self, limit: int, bans: list[Ban] | None = None) -> None:
        self.limit = limit
        self._by_name: dict[str, Ban] = {}
        # (IP version, prefix length) -> network address as an int -> ban
        self._by_network: dict[tuple[int, int], dict[int, Ban]] = {}
        for ban in bans or ():
            self.add(ban)

    def __len__(self) -> int:
        return len(self._by_name) + sum(map(len, self._by_network.values()))

    def full_at(self, now: float) -> bool:
        """At the limit with bans still in force (expired ones are dropped first)."""
        return len(self) >= self.limit and len(self.active(now)) >= self.limit

    def has(self, kind: BanKind, target: str) -> bool:
        if kind is BanKind.NAME:
            return target in self._by_name
        slot, address = _slot(target)
        return address in self._by_network.get(slot, {})

    def add(self, ban: Ban) -> None:
        """Add or replace the ban on the same target."""
        if ban.kind is BanKind.NAME:
            self._by_name[ban.target] = ban
            return
        slot, address = _slot(ban.target)
        self._by_network.setdefault(slot, {})[address] = ban

    def remove(self, kind: BanKind, target: str) -> Ban | None:
        if kind is BanKind.NAME:
            return self._by_name.pop(target, None)
        slot, address = _slot(target)
        bans = self._by_network.get(slot, {})
        ban = bans.pop(address, None)
        if not bans:
            self._by_network.pop(slot, None)
        return ban

    def for_name(self, key: str, now: float) -> Ban | None:
        ban = self._by_name.get(key)
        if ban is not None and not ban.active(now):
            del self._by_name[key]
            return None
        return ban

    def for_address(self, host: str | None, now: float) -> Ban | None:
        """The ban covering this address, if any (an expired one is dropped)."""
        if host is None or not self._by_network:
            return None
        ip = parse_network(host)
        if ip is None:
            return None
        address = int(ip.network_address)
        bits = ip.max_prefixlen
        for (version, length), bans in list(self._by_network.items()):
            if version != ip.version:
                continue
            network = address >> (bits - length) << (bits - length)
            ban = bans.get(network)
            if ban is None:
                continue
            if ban.active(now):
                return ban
            self.remove(ban.kind, ban.target)
        return None

    def active(self, now: float) -> list[Ban]:
        """Every ban in force, oldest first; expired ones are dropped."""
        every = [
            *self._by_name.values(),
            *(b for n in self._by_network.values() for b in n.values()),
        ]
        for ban in every:
            if not ban.active(now):
                self.remove(ban.kind, ban.target)
        return sorted((ban for ban in every if ban.active(now)), key=lambda ban: ban.created)


class MuteList:
    """Active mutes by name key, at most `limit`."""

    __slots__ = ("_by_key", "limit")

    def __init__(self, limit: int, mutes: list[Mute] | None = None) -> None:
        self.limit = limit
        self._by_key: dict[str, Mute] = {mute.key: mute for mute in mutes or ()}

    def __len__(self) -> int:
        return len(self._by_key)

    def full_at(self, now: float) -> bool:
        """At the limit with mutes still in force (expired ones are dropped first)."""
        if len(self._by_key) < self.limit:
            return False
        for key in [key for key, mute in self._by_key.items() if not mute.active(now)]:
            del self._by_key[key]
        return len(self._by_key) >= self.limit

    def add(self, mute: Mute) -> None:
        self._by_key[mute.key] = mute

    def remove(self, key: str) -> Mute | None:
        return self._by_key.pop(key, None)

    def get(self, key: str, now: float) -> Mute | None:
        mute = self._by_key.get(key)
        if mute is not None and not mute.active(now):
            del self._by_key[key]
            return None
        return mute
