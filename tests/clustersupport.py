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


class Cuttable:
    """A TCP proxy to Redis that can be cut, as a network partition cuts one node
    off while the others go on."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pair, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Drop every connection and refuse new ones until `open` again."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._pipes):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def _pair(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._pipes |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._copy(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _copy(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._pipes.discard(sink)
