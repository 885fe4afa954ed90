"""Server settings: one dataclass, built from the command line or by tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from asyncchat.core.addresses import AddressLimits, parse_networks
from asyncchat.core.ratelimit import NOISE_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 51845
DEFAULT_TIMEOUT = 10.0
DEFAULT_TLS_PORT = 51846


MIB = 1024 * 1024
IRC_LINE = 4096 + 512
"""An IRC client's longest line: a tags part and a message (see frontends/irc)."""


def setting(default: Any, help: str, **argparse_options: Any) -> Any:
    """A ServerConfig field with its command-line help: the one place a setting is defined."""
    return field(default=default, metadata={"help": help, **argparse_options})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every server setting; `asyncchat serve` has one flag per field (`max_line`: `--max-line`)."""

    host: str = setting(DEFAULT_HOST, "address to listen on (0.0.0.0 for all interfaces)")
    port: int = setting(DEFAULT_PORT, "TCP port (0 picks a free one)")
    max_line: int = setting(
        2048, "longest accepted line in bytes; longer lines are refused with an error"
    )
    max_clients: int = setting(10_000, "connections at once; one more is told the server is full")
    register_timeout: float = setting(30.0, "seconds a new connection has to give a valid name")
    max_sendq: int = setting(
        MIB, "bytes of unsent output per client before it is cut off as too slow"
    )
    max_recvq: int = setting(
        8192,
        "bytes of one client's input read ahead of flood control; past that TCP holds it back",
    )
    rate: float = setting(10.0, "lines per second per client before reading pauses (0 = no limit)")
    burst: int = setting(20, "lines a client may send at once before --rate applies")
    max_per_ip: int = setting(16, "connections from one address (IPv6: one /64)")
    max_unnamed_per_ip: int = setting(
        4, "connections from one address that may still be choosing a name"
    )
    connect_rate_per_ip: int = setting(20, "new connections from one address per 10 seconds")
    exempt: str = setting(
        "127.0.0.0/8,::1",
        "comma-separated addresses/CIDRs not limited per address ('' limits everyone)",
    )
    max_rooms: int = setting(1000, "rooms at once; creating one more is refused")
    db: str = setting(
        ":memory:",
        "SQLite file for room history (':memory:' keeps history only while running)",
    )
    history: int = setting(20, "recent lines a user is shown on entering a room (0: none)")
    history_keep: int = setting(
        10_000, "lines kept per room in the database; older ones are pruned"
    )
    history_max_rows: int = setting(
        1_000_000, "lines kept in the database in all; the oldest go first"
    )
    history_memory: int = setting(
        32, "MiB of recent history kept in memory across rooms; the rest is read from --db"
    )
    log_level: str = setting(
        "INFO",
        "how much to log to stderr",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    tls_cert: str = setting(
        "", "PEM certificate (chain) for a TLS listener on --tls-port; SIGHUP reloads it"
    )
    tls_key: str = setting("", "PEM private key of --tls-cert")
    tls_port: int = setting(DEFAULT_TLS_PORT, "TCP port of the TLS listener (0 picks a free one)")
    no_plain: bool = setting(
        False, "no plaintext listener: TLS only (needs --tls-cert)", action="store_true"
    )

    max_accounts: int = setting(100_000, "registered names at most; one more /register is refused")
    oper: tuple[str, ...] = setting(
        (),
        "a registered name that may /kick, /ban, /mute and /wall once identified (repeatable)",
        action="append",
        metavar="NAME",
    )
    max_bans: int = setting(10_000, "bans at most, and mutes at most; one more is refused")

    irc_port: int = setting(-1, "TCP port of an IRC listener (-1: none; 0 picks a free one)")
    irc_tls_port: int = setting(
        -1, "TCP port of an IRC listener over TLS, with --tls-cert (-1: none)"
    )
    server_name: str = setting(
        "", "the name the server gives itself to IRC clients (default: the host name)"
    )
    irc_ping_timeout: float = setting(
        120.0, "seconds an idle IRC client has to answer a PING before it is dropped"
    )

    web_port: int = setting(
        -1, "TCP port of the web page and its WebSocket (-1: none; 0 picks a free one)"
    )
    web_tls_port: int = setting(
        -1, "TCP port of the web page over TLS (https, wss), with --tls-cert (-1: none)"
    )
    web_origin: tuple[str, ...] = setting(
        (),
        "another site (scheme://host[:port]) whose pages may use the chat's WebSocket (repeatable)",
        action="append",
        metavar="ORIGIN",
    )

    redis: str = setting(
        "",
        "redis://HOST:PORT/DB of a Redis shared with other asyncchat daemons: this one becomes "
        "a node of their cluster (history goes to Redis, not --db); '' runs alone",
        metavar="URL",
    )

    def __post_init__(self) -> None:
        problems = []
        for flag, number in (("--rate", self.rate), ("--register-timeout", self.register_timeout)):
            if not math.isfinite(number):
                problems.append(f"{flag} must be a finite number")
        if not 0 <= self.port <= 65535:
            problems.append("--port must be between 0 and 65535")
        for flag, port in (
            ("--irc-port", self.irc_port),
            ("--irc-tls-port", self.irc_tls_port),
            ("--web-port", self.web_port),
            ("--web-tls-port", self.web_tls_port),
        ):
            if not -1 <= port <= 65535:
                problems.append(f"{flag} must be -1 (none) or between 0 and 65535")
        for flag, port in (
            ("--irc-tls-port", self.irc_tls_port),
            ("--web-tls-port", self.web_tls_port),
        ):
            if port != -1 and not self.tls_cert:
                problems.append(f"{flag} needs --tls-cert and --tls-key")
        for origin in self.web_origin:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                problems.append(f"--web-origin {origin!r}: write it as scheme://host[:port]")
        if not 1 <= self.irc_ping_timeout < float("inf"):
            problems.append("--irc-ping-timeout must be at least 1 second")
        if not 0 <= self.tls_port <= 65535:
            problems.append("--tls-port must be between 0 and 65535")
        if self.tls_cert and self.tls_port == self.port != 0:
            problems.append("--tls-port must differ from --port")
        if bool(self.tls_cert) != bool(self.tls_key):
            problems.append("--tls-cert and --tls-key go together: give both or neither")
        if self.no_plain and not self.tls_cert:
            problems.append("--no-plain needs --tls-cert and --tls-key (else nothing listens)")
        if self.max_line < 64:
            problems.append("--max-line must be at least 64 bytes")
        if self.max_clients < 1:
            problems.append("--max-clients must be at least 1")
        if self.register_timeout <= 0:
            problems.append("--register-timeout must be more than 0 seconds")
        if self.max_sendq < 4096:
            problems.append("--max-sendq must be at least 4096 bytes")
        if self.max_recvq < self.max_line + 2 + NOISE_BYTES:
            problems.append(
                f"--max-recvq must be at least --max-line + {2 + NOISE_BYTES} bytes "
                "(a whole line and a token's worth of noise)"
            )
        irc = self.irc_port != -1 or self.irc_tls_port != -1
        if irc and self.max_recvq < IRC_LINE + 2 + NOISE_BYTES:
            problems.append(f"--max-recvq must be at least {IRC_LINE + 2 + NOISE_BYTES} with IRC")
        if self.rate < 0:
            problems.append("--rate must be 0 (off) or more lines per second")
        if self.burst < 1:
            problems.append("--burst must be at least 1 line")
        for flag, value in (
            ("--max-per-ip", self.max_per_ip),
            ("--max-unnamed-per-ip", self.max_unnamed_per_ip),
            ("--connect-rate-per-ip", self.connect_rate_per_ip),
            ("--max-rooms", self.max_rooms),
            ("--max-accounts", self.max_accounts),
            ("--max-bans", self.max_bans),
        ):
            if value < 1:
                problems.append(f"{flag} must be at least 1")
        try:
            parse_networks(self.exempt)
        except ValueError as problem:
            problems.append(f"--exempt: {problem}")
        if self.history < 0:
            problems.append("--history must be 0 (none) or more lines")
        if self.history_keep < max(1, self.history):
            problems.append("--history-keep must be at least 1 and at least --history")
        if self.history_max_rows < self.history_keep:
            problems.append("--history-max-rows must be at least --history-keep")
        if self.history_memory < 0:
            problems.append("--history-memory must be 0 (read every join from --db) or more MiB")
        if self.redis and not self.redis.startswith(("redis://", "rediss://", "unix://")):
            problems.append("--redis must be a redis://, rediss:// or unix:// URL")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def address_limits(self) -> AddressLimits:
        return AddressLimits(
            self.max_per_ip,
            self.max_unnamed_per_ip,
            self.connect_rate_per_ip,
            parse_networks(self.exempt),
        )


@dataclass(frozen=True, slots=True)
class ClientConfig:
    name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    timestamps: bool = True
    color: bool = True
    reconnect: bool = True
    stay: bool = False
    history: bool = True
    bell: bool = True
    tls: bool = False
    tls_ca: str | None = None
    """A PEM file of CAs to verify the server with, instead of the system's."""
    reconnect_delay: float = 1.0
    reconnect_max: float = 30.0
    reconnect_reset: float = 10.0
    """A connection that lived this long starts the reconnect delay afresh."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds for a connect, and for the server's answer to our name."""
    quit_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ValueError("--port must be between 1 and 65535")
        if not 0 < self.timeout < float("inf"):
            raise ValueError("--timeout must be more than 0 seconds")
