"""TLS listeners with admission before the handshake.

A TLS handshake costs the server real CPU, so an address over its limits
(or banned) must be refused before it starts one. asyncio's TLS servers
hand a connection over only after the handshake, and uvloop starts reading
before a protocol can pause it (so `start_tls` after admission loses the
ClientHello). Hence our own accept loop: accept, admit by address, then
`connect_accepted_socket` with TLS for the admitted only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Protocol, cast

from asyncchat.core.events import Error
from asyncchat.core.hub.base import Ticket

if TYPE_CHECKING:
    from asyncchat.edge.server import ChatServer

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
"""A TLS handshake must finish in this time, so half-open handshakes are not kept."""
ACCEPT_BACKOFF = 0.1
"""Out of file descriptors: wait this long before accepting again."""


class Admitted(Protocol):
    """A front end's connection made with a ticket: `connected` once the hub has it."""

    @property
    def connected(self) -> bool: ...


Factory = Callable[["ChatServer", Ticket], "Admitted"]


class TLSListener:
    """Listening sockets for one TLS front end; `start` binds, `close` stops."""

    def __init__(
        self,
        server: ChatServer,
        protocol: Factory,
        context: ssl.SSLContext,
        host: str,
        port: int,
        backlog: int,
    ) -> None:
        self._server = server
        self._protocol = protocol
        self._context = context
        self._host, self._port, self._backlog = host, port, backlog
        self.sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._unstarted: dict[int, tuple[socket.socket, Ticket]] = {}
        """Admitted connections whose handshake task has not run yet, by ticket id."""
        self.on_close: Callable[[], None] | None = None
        """Told when the listener closes (the web's stops taking handshakes over)."""

    async def start(self) -> None:
        """Bind every address `host` resolves to (OSError: cannot listen)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        port = self._port
        try:
            for family, _, _, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, socket.SOCK_STREAM)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                port = port or sock.getsockname()[1]  # port 0: the same free port for all
                sock.listen(self._backlog)
                sock.setblocking(False)
        except OSError:
            self.close()
            raise
        for sock in self.sockets:
            self._spawn(self._accept(sock))

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
        for task in list(self._tasks):
            task.cancel()
        for sock in self.sockets:
            sock.close()
        # A task cancelled before it ran never runs its cleanup: do it here.
        for accepted, ticket in self._unstarted.values():
            accepted.close()
            self._server.hub.release(ticket)
        self._unstarted.clear()

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        hub = self._server.hub
        while True:
            try:
                sock, peer = await loop.sock_accept(listening)
            except OSError as problem:
                if problem.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    hub.warnings.warn("accept", f"cannot accept a TLS connection: {problem}")
                    await asyncio.sleep(ACCEPT_BACKOFF)
                continue
            host = peer[0] if isinstance(peer, tuple) else None
            ticket = hub.admit(host)
            if isinstance(ticket, Error):
                sock.close()  # no TLS, so no words: the log says why
                continue
            self._unstarted[id(ticket)] = (sock, ticket)
            self._spawn(self._handshake(sock, ticket))

    async def _handshake(self, sock: socket.socket, ticket: Ticket) -> None:
        del self._unstarted[id(ticket)]
        loop = asyncio.get_running_loop()
        made: list[Admitted] = []

        def protocol() -> asyncio.BaseProtocol:
            made.append(self._protocol(self._server, ticket))
            return cast(asyncio.BaseProtocol, made[0])

        try:
            await loop.connect_accepted_socket(
                protocol, sock, ssl=self._context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (OSError, ssl.SSLError, asyncio.CancelledError) as problem:
            with contextlib.suppress(OSError):
                sock.close()
            if not made or not made[0].connected:
                self._server.hub.release(ticket)
            if isinstance(problem, asyncio.CancelledError):
                raise
            log.debug("a TLS handshake from %s failed: %s", ticket.host, problem)
