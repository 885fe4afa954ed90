from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from browsersupport import launched
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
