"""A real redis-server for the cluster tests, on a free loopback port, with its
data in a temporary directory (an append-only file, so a restart keeps it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TIMEOUT = 10.0

needs_redis = pytest.mark.skipif(
    not os.path.exists(REDIS_SERVER) and not os.environ.get("ASYNCCHAT_REQUIRE_CLIENTS"),
    reason="redis-server is not installed (apt-get install redis-server)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; `stop` and `start` again keep its port and data."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.where),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        seen: list[bytes] = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = await self.process.stdout.readline()
                assert line, f"redis-server exited: {b''.join(seen).decode()}"
                seen.append(line)
                if b"Ready to accept connections" in line:
                    break
        self._drain = asyncio.create_task(self._discard(self.process.stdout))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(65536):
            pass

    async def stop(self) -> None:
        """Stop it (SIGKILL: whatever the append-only file has is what it keeps)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
            await self._drain


@asynccontextmanager
async def redis_server(where: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(where)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
