"""Per-address admission: one address may only ever hurt itself.

An IPv4 address counts alone; an IPv6 address counts with its whole /64,
because one host is handed a /64 and picks addresses in it at will. Every
table here is bounded: open and unnamed counts exist only while connections
do, and the connect-rate table forgets an address once its window is full
again, with a hard cap on top.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RATE_WINDOW = 10.0
"""Seconds over which --connect-rate-per-ip connections are allowed."""
MAX_RATE_ENTRIES = 100_000
"""Addresses whose recent connects are remembered; the oldest are forgotten first."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDRs; '' is none. ValueError says which is wrong."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"'{part}' is not an address or CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(host: str) -> str | None:
    """What one address counts as: the IPv4 address, or the IPv6 /64; None if not an IP."""
    ip = _ip(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class AddressLimits:
    max_per_ip: int
    max_unnamed_per_ip: int
    connect_rate_per_ip: int
    exempt: tuple[Network, ...]


class Admission:
    """Counts connections per address key and refuses what is over the limits."""

    __slots__ = ("_clock", "_limits", "_open", "_recent", "_unnamed")

    def __init__(self, limits: AddressLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._open: dict[str, int] = {}
        self._unnamed: dict[str, int] = {}
        self._recent: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def admit(self, host: str | None) -> tuple[bool, str | None]:
        """(admitted, key to hand back to `named` and `release`); exempt hosts get key None."""
        ip = _ip(host) if host is not None else None
        if ip is None or any(ip in network for network in self._limits.exempt):
            return True, None
        key = address_key(str(ip))
        assert key is not None
        limits = self._limits
        if (
            self._open.get(key, 0) >= limits.max_per_ip
            or self._unnamed.get(key, 0) >= limits.max_unnamed_per_ip
            or not self._connect_allowed(key)
        ):
            return False, None
        self._open[key] = self._open.get(key, 0) + 1
        self._unnamed[key] = self._unnamed.get(key, 0) + 1
        return True, key

    def named(self, key: str | None) -> None:
        if key is not None:
            _decrement(self._unnamed, key)

    def release(self, key: str | None, *, was_named: bool) -> None:
        if key is None:
            return
        _decrement(self._open, key)
        if not was_named:
            _decrement(self._unnamed, key)

    @property
    def tracked(self) -> int:
        """Entries held in all tables, for tests that check they stay bounded."""
        return len(self._open) + len(self._unnamed) + len(self._recent)

    def _connect_allowed(self, key: str) -> bool:
        """A token bucket per address: `connect_rate_per_ip` per RATE_WINDOW seconds.

        A refused attempt costs nothing, so the address gets exactly its rate.
        """
        now = self._clock()
        capacity = float(self._limits.connect_rate_per_ip)
        refill = capacity / RATE_WINDOW
        recent = self._recent
        while recent:
            oldest, (_, stamp) = next(iter(recent.items()))
            if now - stamp < RATE_WINDOW and len(recent) < MAX_RATE_ENTRIES:
                break
            del recent[oldest]
        tokens, stamp = recent.pop(key, (capacity, now))
        tokens = min(capacity, tokens + (now - stamp) * refill)
        allowed = tokens >= 1.0
        recent[key] = (tokens - allowed, now)
        return allowed


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
