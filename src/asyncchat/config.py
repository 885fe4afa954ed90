"""Server settings: one dataclass, built from the command line or by tests."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 51845


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_line: int = 2048
    max_clients: int = 10_000
    register_timeout: float = 30.0
    max_sendq: int = 1024 * 1024
    rate: float = 10.0
    burst: int = 20
    db: str = ":memory:"
    history: int = 20
    history_keep: int = 10_000
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append("--port must be between 0 and 65535")
        if self.max_line < 64:
            problems.append("--max-line must be at least 64 bytes")
        if self.max_clients < 1:
            problems.append("--max-clients must be at least 1")
        if self.register_timeout <= 0:
            problems.append("--register-timeout must be more than 0 seconds")
        if self.max_sendq < 4096:
            problems.append("--max-sendq must be at least 4096 bytes")
        if self.rate < 0:
            problems.append("--rate must be 0 (off) or more lines per second")
        if self.burst < 1:
            problems.append("--burst must be at least 1 line")
        if self.history < 0:
            problems.append("--history must be 0 (none) or more lines")
        if self.history_keep < max(1, self.history):
            problems.append("--history-keep must be at least 1 and at least --history")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class ClientConfig:
    name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    timestamps: bool = True
    color: bool = True
    reconnect: bool = True
    stay: bool = False
    reconnect_delay: float = 1.0
    reconnect_max: float = 30.0
    quit_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ValueError("--port must be between 1 and 65535")
