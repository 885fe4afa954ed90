"""The client's connection to a server, and the piped (non-terminal) mode.

Piped mode is for scripts and bots: stdin lines are sent, every server line
goes to stdout as it arrives, and at EOF a /ping round trip proves the
server has handled everything before the client says /quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

from asyncchat.client.roster import Roster
from asyncchat.config import ClientConfig
from asyncchat.core.events import (
    AskPassword,
    Bye,
    Error,
    Hello,
    HistoryEnd,
    HistoryLine,
    HistoryStart,
    Pong,
)
from asyncchat.frontends.line.wire import final_reason, parse

EXIT_OK, EXIT_CONNECTION, EXIT_NAME_REFUSED = 0, 1, 2
HISTORY = (HistoryStart, HistoryLine, HistoryEnd)
# A Hello or /who in a full room lists every name: 10,000 names can pass 64 KiB.
LINE_LIMIT = 4 * 1024 * 1024


class NameRefused(Exception):
    """The server refused the name; the message is the server's reason."""


class ConnectionLost(Exception):
    """The server closed the connection."""


class Silent(Exception):
    """The server did not answer in time (not an asyncchat server, or stuck)."""


class ServerConnection:
    """One TCP connection speaking the line protocol: lines out, lines in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, config: ClientConfig) -> ServerConnection:
        """Connect (with TLS if asked) within the timeout; TimeoutError and TLS
        failures are OSErrors here, said in one line by `os_reason`."""
        tls = None
        if config.tls:
            try:
                tls = ssl.create_default_context(cafile=config.tls_ca)
            except OSError as problem:  # a --tls-ca file that cannot be read
                reason = problem.strerror or str(problem)
                raise OSError(0, f"--tls-ca {config.tls_ca}: {reason}") from None
        try:
            async with asyncio.timeout(config.timeout):
                reader, writer = await asyncio.open_connection(
                    config.host, config.port, limit=LINE_LIMIT, ssl=tls
                )
        except TimeoutError:
            raise TimeoutError(0, f"no answer within {config.timeout:g} s") from None
        return cls(reader, writer)

    def send(self, line: str) -> None:
        if not self._writer.is_closing():
            self._writer.write(line.encode() + b"\n")

    async def line(self) -> str:
        """The next server line without its CRLF; ConnectionLost at the end."""
        pieces: list[bytes] = []
        while True:
            try:
                pieces.append(await self._reader.readuntil(b"\n"))
                break
            except asyncio.IncompleteReadError as partial:
                if not partial.partial and not pieces:
                    raise ConnectionLost from None
                pieces.append(partial.partial)
                break
            except asyncio.LimitOverrunError as overrun:
                # Longer than the reader's buffer: take it whole, never in pieces.
                pieces.append(await self._reader.readexactly(overrun.consumed))
            except ConnectionError as problem:
                raise ConnectionLost from problem
        return b"".join(pieces).decode(errors="replace").rstrip("\r\n")

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


PasswordSource = Callable[[str], Awaitable[str | None]]
"""Asked for the password of a registered name (the name as the server shows it);
None gives up."""

PASSWORD_ENV = "ASYNCCHAT_PASSWORD"
"""Where `asyncchat join` finds the password of a registered name, if not asked."""


async def register(
    conn: ServerConnection, name: str, within: float, password: PasswordSource | None = None
) -> tuple[Hello, str]:
    """Ask for `name`; return the Hello event and its line, or raise NameRefused,
    or Silent when the server says nothing useful within `within` seconds (time
    spent typing a password does not count)."""
    conn.send(name)
    while True:
        try:
            async with asyncio.timeout(within):
                while True:
                    line = await conn.line()
                    event = parse(line)
                    if isinstance(event, Hello):
                        return event, line
                    if isinstance(event, Error):
                        raise NameRefused(event.text)
                    if isinstance(event, AskPassword):
                        break
        except TimeoutError:
            raise Silent(f"no greeting within {within:g} s; is it an asyncchat server?") from None
        secret = await password(event.name) if password is not None else None
        if secret is None:
            raise NameRefused(
                f"'{event.name}' is registered: its password is needed "
                f"(type it when asked, or set {PASSWORD_ENV})"
            )
        conn.send(secret)


def os_reason(problem: OSError) -> str:
    """The system's words for a failed connect, the same on every event loop."""
    if isinstance(problem, TimeoutError) and problem.strerror:
        return problem.strerror
    if isinstance(problem, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate is not trusted ({problem.verify_message})"
    if isinstance(problem, ssl.SSLError):
        if problem.reason == "WRONG_VERSION_NUMBER":
            return "TLS: the server does not speak TLS there (a plaintext port?)"
        return f"TLS: {problem.reason or problem}"
    if problem.errno is not None and problem.errno > 0:
        return os.strerror(problem.errno)
    return problem.strerror or str(problem) or type(problem).__name__


def connect_error(config: ClientConfig, problem: OSError) -> str:
    reason = os_reason(problem)
    return f"asyncchat: cannot connect to {config.host}:{config.port}: {reason}"


async def connect(config: ClientConfig, stderr: TextIO) -> ServerConnection | None:
    """Open the first connection, or say in one line on stderr why not."""
    try:
        return await ServerConnection.open(config)
    except OSError as problem:
        print(connect_error(config, problem), file=stderr)
        return None


def stdin_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines of a blocking stream, read by a daemon thread; None marks EOF.

    A thread works for every kind of stdin (pipe, file, /dev/null), and a
    daemon thread never holds up the exit while it waits for input.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return queue


class PipedClient:
    """stdin → server, server → stdout; exits 0, 1 (connection) or 2 (name refused)."""

    def __init__(self, config: ClientConfig, stdin: TextIO, stdout: TextIO, stderr: TextIO):
        self._config = config
        self._stdin = stdin
        self._out = stdout
        self._err = stderr
        self._barrier = f"eof-{secrets.token_hex(4)}"
        self._final = False
        self._flushed = asyncio.Event()
        self._stop = asyncio.Event()
        self._lines: asyncio.Queue[str | None] | None = None
        # The pending read of stdin; it outlives a session, so no line is lost to one.
        self._next_line: asyncio.Task[str | None] | None = None
        self._roster = Roster()
        self._reconnecting = False

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    async def run(self) -> int:
        """One session; with --stay (a bot), sessions until a signal, reconnecting
        with the interactive client's backoff, unless --no-reconnect."""
        conn = await connect(self._config, self._err)
        if conn is None:
            return EXIT_CONNECTION
        self._lines = stdin_lines(self._stdin)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._stop.set)
        try:
            return await self._sessions(conn)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    async def _sessions(self, conn: ServerConnection) -> int:
        loop = asyncio.get_running_loop()
        config = self._config
        delay = config.reconnect_delay
        while True:
            opened = loop.time()
            try:
                code = await self._session(conn)
            finally:
                await conn.close()
            lost = code is None
            if not lost or not (config.stay and config.reconnect) or self._stop.is_set():
                if lost:
                    print("asyncchat: the server closed the connection", file=self._err)
                return EXIT_CONNECTION if code is None else code
            if loop.time() - opened >= config.reconnect_reset:
                delay = config.reconnect_delay
            self._reconnecting = True
            while True:
                print(f"asyncchat: connection lost; reconnecting in {delay:g} s", file=self._err)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return EXIT_OK
                delay = min(delay * 2, config.reconnect_max)
                try:
                    conn = await ServerConnection.open(config)
                    break
                except OSError as problem:
                    print(connect_error(config, problem), file=self._err)

    async def _password(self, name: str) -> str | None:
        """A bot's password comes from the environment, never from its stdin."""
        return os.environ.get(PASSWORD_ENV) or None

    async def _session(self, conn: ServerConnection) -> int | None:
        """The exit code of one session, or None if the connection was lost (or, on a
        reconnect, the name is still held by our old session, or no greeting came)."""
        room = self._roster.room
        try:
            hello, line = await register(
                conn, self._roster.me or self._config.name, self._config.timeout, self._password
            )
        except NameRefused as refused:
            print(f"asyncchat: name refused: {refused}", file=self._err)
            return None if self._reconnecting else EXIT_NAME_REFUSED
        except Silent as silent:
            print(f"asyncchat: {self._config.host}:{self._config.port}: {silent}", file=self._err)
            return None if self._reconnecting else EXIT_CONNECTION
        except ConnectionLost:
            return None
        self._print(line)
        self._roster.apply(hello)
        if room and room != self._roster.room:
            conn.send(f"/join {room}")  # back to the room we were in
        receiving = asyncio.create_task(self._receive(conn))
        sending = asyncio.create_task(self._send(conn))
        try:
            done, _ = await asyncio.wait({receiving, sending}, return_when="FIRST_COMPLETED")
            if receiving in done:
                if receiving.exception() is not None:
                    return None
                return EXIT_CONNECTION if self._final else EXIT_OK
            conn.send("/quit")
            with contextlib.suppress(TimeoutError, ConnectionLost):
                await asyncio.wait_for(receiving, self._config.quit_timeout)
            return EXIT_OK
        finally:
            for task in (receiving, sending):
                task.cancel()

    async def _receive(self, conn: ServerConnection) -> None:
        """Print server lines; return after our Bye, raise ConnectionLost otherwise."""
        while True:
            line = await conn.line()
            event = parse(line)
            if isinstance(event, Pong) and event.token == self._barrier:
                self._flushed.set()
                continue
            self._roster.apply(event)
            if self._config.history or not isinstance(event, HISTORY):
                self._print(line)
            final = final_reason(event)
            if final is not None:
                print(f"asyncchat: {final}: not reconnecting", file=self._err)
                self._final = True
            if isinstance(event, Bye) or final is not None:
                with contextlib.suppress(ConnectionLost):
                    while True:
                        self._print(await conn.line())
                return

    async def _send(self, conn: ServerConnection) -> None:
        """Send stdin until EOF, `q` or a signal; then wait until all was handled."""
        lines = self._lines
        assert lines is not None
        stop = asyncio.create_task(self._stop.wait())
        try:
            while True:
                if self._next_line is None:
                    self._next_line = asyncio.create_task(lines.get())
                await asyncio.wait({self._next_line, stop}, return_when="FIRST_COMPLETED")
                if stop.done():
                    return
                line = self._next_line.result()
                self._next_line = None
                if line is None or line.strip() == "q":
                    break
                if line.strip():
                    conn.send(line)
            conn.send(f"/ping {self._barrier}")
            await self._flushed.wait()
            if self._config.stay:
                await stop
        finally:
            stop.cancel()


def run_piped(config: ClientConfig) -> int:
    from asyncchat.edge import loop

    return loop.run(PipedClient(config, sys.stdin, sys.stdout, sys.stderr).run())
