"""The daemon: listeners, the shared parts of the edge, and a graceful shutdown.

Each connection is a `LineConnection` (connection.py, the read side) with a
`Peer` (outbox.py, the output side); this module owns what they share and
the server's lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from asyncchat.backends.store import MessageStore
from asyncchat.config import ServerConfig
from asyncchat.core.events import LeaveReason
from asyncchat.core.hub import Hub
from asyncchat.core.logthrottle import WINDOW
from asyncchat.core.registry import Registry
from asyncchat.edge.notify import notify
from asyncchat.edge.outbox import Dispatcher, Outbox, Peer
from asyncchat.edge.passwords import PasswordWorker
from asyncchat.edge.tls import Factory, TLSListener
from asyncchat.frontends.irc.connection import IRCConnection
from asyncchat.frontends.line.connection import LineConnection

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WebServer

    from asyncchat.cluster.node import Node
    from asyncchat.frontends.web.connection import WebSession
    from asyncchat.frontends.web.site import Asset

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 4.0


class ClusterError(Exception):
    """--redis cannot be used; the message says why."""


class TLSError(Exception):
    """The certificate or key cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket and the front end whose protocol serves it (the web's
    are made by the websockets library instead: see `_open_web`)."""

    front_end: str
    host: str
    port: int
    protocol: Callable[[ChatServer], asyncio.BaseProtocol]
    """Makes one connection's protocol; a TLS listener's also takes the connection's
    `Ticket` (admitted before its handshake): see edge/tls.py."""
    tls: ssl.SSLContext | None = None


class ChatServer:
    """The daemon. Constructing it touches nothing; `start` opens the history
    file, builds the hub and listens; `shutdown` undoes it all."""

    hub: Hub[Peer]
    dispatch: Dispatcher

    def __init__(self, config: ServerConfig, *, shutdown_grace: float = SHUTDOWN_GRACE) -> None:
        self.config = config
        self._shutdown_grace = shutdown_grace
        self.store: MessageStore | None = None
        self.node: Node | None = None
        # One read buffer for every connection: each read is copied out before the next.
        self.scratch = memoryview(bytearray(config.max_recvq))
        self.connections: set[LineConnection] = set()
        self.web_sessions: set[WebSession] = set()
        self.web_assets: dict[str, Asset] = {}
        self._web_servers: list[WebServer] = []
        self._servers: list[asyncio.Server] = []
        self._tls_listeners: list[TLSListener] = []
        self._bound: list[tuple[Listener, int]] = []
        self._tls: ssl.SSLContext | None = None
        self._outbox: Outbox | None = None
        self._warnings: asyncio.TimerHandle | None = None
        self._drained: asyncio.Event | None = None

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "the server has not started"
        return self._outbox

    def listeners(self) -> list[Listener]:
        """Every listening socket this configuration asks for, with its front end."""
        config = self.config
        found = []
        if not config.no_plain:
            found.append(Listener("line", config.host, config.port, LineConnection))
        if self._tls is not None:
            found.append(Listener("line", config.host, config.tls_port, LineConnection, self._tls))
        if config.irc_port != -1:
            found.append(Listener("irc", config.host, config.irc_port, IRCConnection))
        if self._tls is not None and config.irc_tls_port != -1:
            irc_tls = Listener("irc", config.host, config.irc_tls_port, IRCConnection, self._tls)
            found.append(irc_tls)
        if config.web_port != -1:
            found.append(Listener("web", config.host, config.web_port, _made_by_websockets))
        if self._tls is not None and config.web_tls_port != -1:
            web_tls = Listener(
                "web", config.host, config.web_tls_port, _made_by_websockets, self._tls
            )
            found.append(web_tls)
        return found

    def port_of(self, front_end: str, tls: bool = False) -> int:
        """The port a front end's listener is bound to (for tests and logs)."""
        for listener, port in self._bound:
            if listener.front_end == front_end and (listener.tls is not None) == tls:
                return port
        raise LookupError(front_end)

    def reload_tls(self) -> None:
        """Load the certificate files again (SIGHUP): new handshakes use them, and
        nobody connected is dropped. On a failure the old certificate stays."""
        if self._tls is None:
            log.warning("SIGHUP: no TLS listener, nothing to reload")
            return
        try:
            # A trial load first: a failed load into the live context would leave it
            # half replaced (a new certificate without its key), failing every handshake.
            trial = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            trial.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            self._tls.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        except (OSError, ssl.SSLError) as problem:
            log.error("could not reload the TLS certificate (the old one stays): %s", problem)
            return
        log.info("reloaded the TLS certificate %s", self.config.tls_cert)

    async def start(self) -> None:
        """Open the history file and listen on every listener. A StoreError (the
        file) or an OSError (a listener) means the server cannot run; what was
        opened is closed again."""
        loop = asyncio.get_running_loop()
        config = self.config
        self._passwords = PasswordWorker()
        if config.redis:
            await self._join_cluster()
        else:
            if config.db != ":memory:":
                self.store = MessageStore(config.db, config.history_keep, config.history_max_rows)
            directory: Registry[Peer] = Registry()
            self.hub = Hub(config, directory=directory, store=self.store, kept=self.store)
            self.dispatch = Dispatcher(self.hub, directory, self._passwords)
        self._outbox = Outbox(loop)
        try:
            if config.tls_cert:
                self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                try:
                    self._tls.load_cert_chain(config.tls_cert, config.tls_key)
                except (OSError, ssl.SSLError) as problem:
                    raise TLSError(
                        f"cannot use --tls-cert {config.tls_cert} with --tls-key "
                        f"{config.tls_key}: {problem}"
                    ) from None
            backlog = min(self.config.max_clients, 4096)
            for listener in self.listeners():
                if listener.front_end == "web":
                    self._bound.append((listener, await self._open_web(listener)))
                    continue
                if listener.tls is not None:
                    front_end = cast(Factory, listener.protocol)
                    tls = TLSListener(
                        self, front_end, listener.tls, listener.host, listener.port, backlog
                    )
                    self._tls_listeners.append(tls)
                    await tls.start()
                    self._bound.append((listener, tls.sockets[0].getsockname()[1]))
                    continue
                server = await loop.create_server(
                    functools.partial(listener.protocol, self),
                    listener.host,
                    listener.port,
                    backlog=backlog,
                )
                self._servers.append(server)
                self._bound.append((listener, server.sockets[0].getsockname()[1]))
        except (OSError, TLSError):
            for server in self._servers:
                server.close()
            self._servers.clear()
            for web in self._web_servers:
                web.close(close_connections=False)
            self._web_servers.clear()
            for tls in self._tls_listeners:
                tls.close()
            self._tls_listeners.clear()
            self._passwords.close()
            if self.store is not None:
                self.store.close()
            if self.node is not None:
                await self.node.close()
            raise
        if self.node is not None:
            self.node.start()
            log.info("history in Redis (%s)", self.config.redis)
        elif self.store is not None:
            self.store.start()
            log.info("history in %s", self.store.path)
        else:
            log.info("history in memory only (--db :memory:)")
        self._warnings = loop.call_later(WINDOW, self._flush_warnings)
        for listener, port in self._bound:
            kinds = [
                name
                for name, on in (
                    ("IRC", listener.front_end == "irc"),
                    ("web", listener.front_end == "web"),
                    ("TLS", listener.tls is not None),
                )
                if on
            ]
            shown = f" ({', '.join(kinds)})" if kinds else ""
            log.info("listening on %s:%d%s", listener.host, port, shown)

    async def _join_cluster(self) -> None:
        """Become a node of the cluster at --redis (imported only when asked for)."""
        from asyncchat.cluster.link import Unreachable
        from asyncchat.cluster.node import open_node

        try:
            self.node = await open_node(self.config, self._passwords)
        except (Unreachable, RuntimeError) as problem:
            self._passwords.close()
            raise ClusterError(str(problem)) from None
        self.hub = self.node.hub
        self.dispatch = self.node.dispatch

    async def _open_web(self, listener: Listener) -> int:
        """The page and its WebSocket (websockets is imported only when asked for)."""
        from asyncchat.frontends.web.listener import open_web
        from asyncchat.frontends.web.site import load_assets

        if not self.web_assets:
            self.web_assets = load_assets()
        opened = await open_web(self, listener.host, listener.port, listener.tls)
        self._web_servers.extend(opened.servers)
        self._tls_listeners.extend(opened.tls_listeners)
        return opened.port

    def _flush_warnings(self) -> None:
        self.hub.warnings.flush()
        self._warnings = asyncio.get_running_loop().call_later(WINDOW, self._flush_warnings)

    @property
    def bound(self) -> list[tuple[Listener, int]]:
        """Each listener with the port it got."""
        return list(self._bound)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        plain = [sock.getsockname()[:2] for server in self._servers for sock in server.sockets]
        return plain + [s.getsockname()[:2] for tls in self._tls_listeners for s in tls.sockets]

    @property
    def port(self) -> int:
        """The first listener's port (the plaintext one, unless --no-plain)."""
        return self.addresses[0][1]

    @property
    def tls_port(self) -> int:
        (tls,) = self._tls_listeners[:1]
        return int(tls.sockets[0].getsockname()[1])

    async def shutdown(self) -> None:
        """Stop accepting, tell everyone, flush, close; abort what will not flush."""
        for server in self._servers:
            server.close()
        for tls in self._tls_listeners:
            tls.close()
        for web in self._web_servers:
            web.close(close_connections=False)
        if self._warnings is not None:
            self._warnings.cancel()
        if self.node is not None:
            self.node.dispatch.goodbye()
        self.dispatch(self.hub.shutdown())
        for conn in self.connections:
            conn.finish()
        for user in self.web_sessions:
            user.finish()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._shutdown_grace):
                await self._until_closed()
        for conn in list(self.connections):
            conn.cut(LeaveReason.SHUTDOWN)
        for user in list(self.web_sessions):
            user.cut(LeaveReason.SHUTDOWN)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await self._until_closed()
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 0.5)
        for web in self._web_servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(web.wait_closed(), 0.5)
        self.hub.warnings.flush(everything=True)
        self._passwords.close()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None
        if self.node is not None:
            await self.node.close()
            self.node = None
        log.info("stopped")

    def closed(self, conn: LineConnection) -> None:
        """A connection's transport is gone."""
        self.connections.discard(conn)
        self._maybe_drained()

    def web_closed(self, session: WebSession) -> None:
        """A WebSocket user's socket is gone."""
        self.web_sessions.discard(session)
        self._maybe_drained()

    def _maybe_drained(self) -> None:
        if not self.connections and not self.web_sessions and self._drained is not None:
            self._drained.set()

    async def _until_closed(self) -> None:
        if self.connections or self.web_sessions:
            self._drained = asyncio.Event()
            await self._drained.wait()


def _made_by_websockets(server: ChatServer) -> asyncio.BaseProtocol:
    raise AssertionError("web connections are made by the websockets library")


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards --max-clients, as far as allowed."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("only %d open files allowed; fewer than --max-clients can connect", target)


async def serve(config: ServerConfig) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    _allow_open_files(config.max_clients + 64)
    server = ChatServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
    await server.start()
    ports = ", ".join(str(port) for _, port in server.bound)
    notify(f"READY=1\nSTATUS=listening on {config.host} port {ports}")
    try:
        await stop.wait()
        log.info("signal received; shutting down")
    finally:
        notify("STOPPING=1")
        await server.shutdown()
