"""The web port: the page over HTTP and the chat over a WebSocket at `/ws`, both
served by the `websockets` library on the server's event loop.

Every TCP connection to the port is admitted by the hub like any other
(server full, bans, per-address limits) before a byte of HTTP is read; a
refused one gets a plain-text 503 saying why. A page fetch gives its place
back when its response is sent; a WebSocket keeps it for its session.
"""

from __future__ import annotations

import asyncio
import http
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from asyncchat.core.events import Error
from asyncchat.core.hub.base import Ticket
from asyncchat.edge.tls import TLSListener
from asyncchat.frontends.web.connection import MAX_QUEUE, WebSession
from asyncchat.frontends.web.site import SECURITY_HEADERS, SOCKET_PATH, Asset, same_site

if TYPE_CHECKING:
    from asyncchat.edge.server import ChatServer

WEBSOCKETS_LOG = logging.getLogger("websockets")
"""The library logs each listener and closing at INFO; ours says what matters."""
OPEN_TIMEOUT = 10.0
"""Seconds a connection has to finish its TLS and HTTP handshakes (or its page fetch)."""
CLOSE_TIMEOUT = 2.0
"""Seconds a browser has to answer our close frame before the socket is dropped."""


class WebConnection(ServerConnection):
    """A TCP connection to the web port, admitted by the hub when it is made."""

    chat: ClassVar[ChatServer]
    ticket: Ticket | None = None
    """Its place in the hub's limits, until a session takes it or the connection ends
    (given before the TLS handshake on the TLS port: see `open_web`)."""
    overflow: Callable[[], None] | None = None
    """Called when websockets' own output (pongs) passes --max-sendq (its session cuts it)."""
    _max_sendq = 0
    _made = False

    @property
    def connected(self) -> bool:
        """Its TLS handshake is done: the ticket is its own to give back (edge/tls.py)."""
        return self._made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._made = True
        self._max_sendq = self.chat.config.max_sendq
        if self.ticket is not None:  # admitted before its TLS handshake
            return
        peername = transport.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) else None
        admitted = self.chat.hub.admit(host)
        if isinstance(admitted, Error):
            body = (admitted.text + "\n").encode()
            head = "".join(
                f"{key}: {value}\r\n"
                for key, value in (
                    *SECURITY_HEADERS,
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                )
            )
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(f"HTTP/1.1 503 Service Unavailable\r\n{head}\r\n".encode() + body)
            transport.close()
            return
        self.ticket = admitted

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # websockets answers pings by itself, past Peer's check: the same limit here.
        overflow = self.overflow
        if overflow is not None and self.transport.get_write_buffer_size() > self._max_sendq:
            overflow()

    def take_ticket(self) -> Ticket:
        ticket, self.ticket = self.ticket, None
        assert ticket is not None, "a WebSocket on a refused connection"
        return ticket

    def give_back(self) -> None:
        """Free its place: a page fetch's response is sent (websockets then waits for the
        browser to close its end), or the connection ended before a session began."""
        if self.ticket is not None:
            self.chat.hub.release(self.ticket)
            self.ticket = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.give_back()


def _respond(asset: Asset, request: Request) -> Response:
    headers = Headers(SECURITY_HEADERS)
    headers["Cache-Control"] = "no-cache"
    headers["ETag"] = asset.etag
    if request.headers.get("If-None-Match") == asset.etag:
        return Response(http.HTTPStatus.NOT_MODIFIED, "Not Modified", headers)
    headers["Content-Type"] = asset.content_type
    headers["Content-Length"] = str(len(asset.body))
    return Response(http.HTTPStatus.OK, "OK", headers, asset.body)


def _secure(connection: ServerConnection, request: Request, response: Response) -> None:
    """Every response carries the security headers, websockets' own (426, 400) too."""
    if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
        for key, value in SECURITY_HEADERS:
            if key not in response.headers:
                response.headers[key] = value


def _text(status: http.HTTPStatus, text: str) -> Response:
    body = (text + "\n").encode()
    headers = Headers(SECURITY_HEADERS)
    headers["Content-Type"] = "text/plain; charset=utf-8"
    headers["Content-Length"] = str(len(body))
    return Response(status, status.phrase, headers, body)


async def _listening(
    host: str, port: int, receive_buffer: int, backlog: int
) -> list[socket.socket]:
    """A listening socket per address of `host`, whose connections have a small receive
    buffer: one read takes at most what the kernel buffers (about `receive_buffer`),
    however many small messages that is, so websockets cannot read far ahead of
    flood control before it pauses."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    try:
        for family, _, _, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer // 2)  # doubled
            sock.bind((address[0], port, *address[2:]))
            port = port or sock.getsockname()[1]  # port 0: the same free port for all
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


class _AdmittedFirst:
    """The websockets server as a connection accepted by our own TLS listener sees it.

    websockets' TLS servers hand a connection over after its handshake, so bans and
    per-address limits would apply only after the TLS work. On the TLS port our
    accept loop (edge/tls.py) admits first, then makes the connection itself; it
    is served by this server's handler (the handshake, `process_request`) like any.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self.handler = server.handler
        self.handler_tasks = server.handler_tasks
        self.serving = True

    def is_serving(self) -> bool:
        return self.serving


@dataclass
class WebListening:
    """What `open_web` opened: websockets servers, our TLS listeners, and the port."""

    servers: list[Server]
    tls_listeners: list[TLSListener]
    port: int


async def open_web(
    chat: ChatServer, host: str, port: int, tls: ssl.SSLContext | None
) -> WebListening:
    """Listen for the page and its WebSocket on `host`:`port` (https/wss with `tls`)."""
    config = chat.config
    assets = chat.web_assets
    if WEBSOCKETS_LOG.level == logging.NOTSET:
        WEBSOCKETS_LOG.setLevel(logging.WARNING)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        response = _answer(request)
        if response is not None:
            assert isinstance(connection, WebConnection)
            connection.give_back()
        return response

    def _answer(request: Request) -> Response | None:
        """A page file, or a refusal; None: go on with the WebSocket."""
        path = request.path.split("?", 1)[0]
        if len(request.headers.get_all("Origin")) > 1 or len(request.headers.get_all("Host")) > 1:
            return _text(http.HTTPStatus.BAD_REQUEST, "one Origin and one Host header, please")
        if path != SOCKET_PATH:
            asset = assets.get(path)
            if asset is None:
                return _text(http.HTTPStatus.NOT_FOUND, "not found: the chat is at /")
            return _respond(asset, request)
        origin = request.headers.get("Origin")
        if not same_site(origin, request.headers.get("Host"), config.web_origin):
            return _text(
                http.HTTPStatus.FORBIDDEN,
                "this page's origin may not use the chat (the server's --web-origin)",
            )
        return None

    async def handler(connection: ServerConnection) -> None:
        assert isinstance(connection, WebConnection)
        session = WebSession(chat, connection, connection.take_ticket())
        connection.overflow = session.overflowed
        await session.run()

    bound = type("BoundWebConnection", (WebConnection,), {"chat": chat})
    backlog = min(config.max_clients, 4096)
    if tls is None:
        socks = await _listening(host, port, config.max_recvq, backlog)
        servers = [await _serve(chat, sock, handler, process_request, bound) for sock in socks]
        return WebListening(servers, [], socks[0].getsockname()[1])
    # A server that never accepts (start_serving=False, on a socket that never listens):
    # it only serves what our TLS listener admitted and handed over.
    placeholder = socket.socket()
    server = await _serve(chat, placeholder, handler, process_request, bound, start=False)
    front = _AdmittedFirst(server)

    def admitted(chat: ChatServer, ticket: Ticket) -> WebConnection:
        protocol = ServerProtocol(max_size=config.max_recvq)
        made: WebConnection = bound(
            protocol,
            cast(Server, front),
            close_timeout=CLOSE_TIMEOUT,
            max_queue=MAX_QUEUE,
        )
        made.ticket = ticket
        return made

    listener = TLSListener(chat, admitted, tls, host, port, backlog)
    try:
        await listener.start()
    except OSError:
        server.close(close_connections=False)
        await server.wait_closed()
        raise
    for sock in listener.sockets:  # accepted connections inherit it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.max_recvq // 2)
    listener.on_close = lambda: setattr(front, "serving", False)
    return WebListening([server], [listener], listener.sockets[0].getsockname()[1])


async def _serve(
    chat: ChatServer,
    sock: socket.socket,
    handler: Callable[[ServerConnection], Awaitable[None]],
    process_request: Callable[[ServerConnection, Request], Response | None],
    bound: type[WebConnection],
    *,
    start: bool = True,
) -> Server:
    config = chat.config
    return await serve(
        handler,
        sock=sock,
        start_serving=start,
        process_request=process_request,
        process_response=_secure,
        compression=None,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        max_size=config.max_recvq,
        max_queue=MAX_QUEUE,
        server_header=None,
        create_connection=bound,
    )
