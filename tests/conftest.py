from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from browsersupport import launched
from clustersupport import RedisServer, redis_server
from playwright.async_api import Browser
from support import StartServer

from asyncchat.config import ServerConfig
from asyncchat.edge.server import ChatServer


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start real servers on free loopback ports; shut them all down afterwards."""
    servers: list[ChatServer] = []

    async def start(shutdown_grace: float = 4.0, **settings: Any) -> ChatServer:
        settings.setdefault("port", 0)
        server = ChatServer(ServerConfig(**settings), shutdown_grace=shutdown_grace)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium for one test (tests/browsersupport.py)."""
    async for one in launched():
        yield one


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A real redis-server of this test's own, on a free loopback port."""
    async with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def node(redis: RedisServer, start_server: StartServer) -> StartServer:
    """Start a daemon (in this process) as a node of the test's cluster."""

    async def start(**settings: Any) -> ChatServer:
        return await start_server(redis=redis.url, **settings)

    return start
