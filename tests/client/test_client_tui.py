"""The interactive client through prompt_toolkit's pipe input and a captured output."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput
from support import TIMEOUT, Client, StartServer

from asyncchat.client.client import EXIT_CONNECTION
from asyncchat.client.tui import InteractiveClient, line_class
from asyncchat.config import ClientConfig
from asyncchat.edge.server import ChatServer
from asyncchat.frontends.line.wire import parse


class Transcript(io.StringIO):
    """Captured terminal output that a test can wait on, without sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()
        self._seen = 0

    def write(self, text: str) -> int:
        self._changed.set()
        return super().write(text)

    async def wait_for(self, text: str) -> None:
        """Wait until `text` appears after what earlier waits have seen."""
        async with asyncio.timeout(TIMEOUT):
            while (found := self.getvalue().find(text, self._seen)) < 0:
                self._changed.clear()
                await self._changed.wait()
        self._seen = found + len(text)


@dataclass
class Terminal:
    keys: PipeInput
    screen: Transcript
    errors: io.StringIO
    task: asyncio.Task[int]

    def type(self, text: str) -> None:
        self.keys.send_text(text)

    async def exit_code(self) -> int:
        return await asyncio.wait_for(self.task, TIMEOUT)


class RingingOutput(PlainTextOutput):
    """Plain text, with the terminal bell written as BEL so that a test can see it."""

    def bell(self) -> None:
        self.write_raw("\a")
        self.flush()


@contextmanager
def terminal_io() -> Iterator[tuple[PipeInput, Transcript]]:
    with create_pipe_input() as keys:
        screen = Transcript()
        with create_app_session(input=keys, output=RingingOutput(screen)):
            yield keys, screen


@asynccontextmanager
async def interactive(port: int, name: str, **settings: Any) -> AsyncIterator[Terminal]:
    config = ClientConfig(name=name, port=port, **{"timestamps": False, **settings})
    with terminal_io() as (keys, screen):
        errors = io.StringIO()
        task = asyncio.create_task(InteractiveClient(config, stderr=errors).run())
        try:
            yield Terminal(keys, screen, errors, task)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def restart(server: ChatServer, start_server: StartServer, **settings: Any) -> ChatServer:
    """Stop the server and start a new one on the same port, as an operator would."""
    port = server.port
    await server.shutdown()
    return await start_server(port=port, **settings)


async def test_typing_while_lines_arrive_sends_the_line_whole(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John! Online (2): Bob, John.")
        await bob.line()
        term.type("half a th")
        await term.screen.wait_for("half a th")
        bob.send("interrupting!", "John: psst")
        await term.screen.wait_for("<Bob> interrupting!")
        await term.screen.wait_for("*Bob* psst")
        term.type("ought\r")
        assert await bob.lines(2) == ["-> *John* psst", "<John> half a thought"]
        await term.screen.wait_for("<John> half a thought")


async def test_tab_completes_names_and_commands(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bobby")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await bob.line()
        term.type("/ms\t")
        await term.screen.wait_for("/msg")
        term.type(" Bo\t")
        await term.screen.wait_for(" Bobby")
        term.type(" hi\r")
        assert await bob.line() == "*John* hi"
        carol = await Client.join(server.port, "Carol")
        await term.screen.wait_for("*** Carol joined (3 online)")
        term.type("ca\t")
        await term.screen.wait_for("Carol: ")
        term.type("hello\r")
        assert await carol.line() == "*John* hello"


@pytest.mark.parametrize("keys", ["q\r", "/quit\r", "\x04", "\x03"])
async def test_every_way_to_quit_exits_0_and_leaves_cleanly(server: ChatServer, keys: str) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        assert await bob.line() == "*** John joined (2 online)"
        term.type(keys)
        assert await term.exit_code() == 0
    assert await bob.line() == "*** John left"
    await bob.quiet()


async def test_quit_with_a_reason_and_q_is_never_sent(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await bob.line()
        term.type("/quit off to bed\r")
        assert await term.exit_code() == 0
        await term.screen.wait_for("*** Bye John!")
    assert await bob.line() == "*** John left (quit: off to bed)"


async def test_a_refused_name_shows_why_and_asks_again(server: ChatServer) -> None:
    john = await Client.join(server.port, "John")
    async with interactive(server.port, "john") as term:
        await term.screen.wait_for("*** error: the name 'john' is taken")
        await term.screen.wait_for("name:")
        term.type("Johnny\r")
        await term.screen.wait_for("*** Hello Johnny! Online (2): John, Johnny.")
        assert await john.line() == "*** Johnny joined (2 online)"


async def test_reconnects_after_the_server_restarts(start_server: StartServer) -> None:
    server = await start_server()
    port = server.port
    async with interactive(port, "John", reconnect_delay=0.05) as term:
        await term.screen.wait_for("*** Hello John!")
        await server.shutdown()
        await term.screen.wait_for("*** server is shutting down")
        await term.screen.wait_for("-- connection lost; reconnecting in 0.05 s")
        await term.screen.wait_for("(not connected) John>")
        term.type("lost words\r")
        await term.screen.wait_for("-- not connected: that line was not sent")
        again = await start_server(port=port)
        await term.screen.wait_for("*** Hello John! Online (1): John.")
        bob = await Client.join(again.port, "Bob")
        await term.screen.wait_for("*** Bob joined (2 online)")
        term.type("back again\r")
        assert await bob.line() == "<John> back again"
        term.type("\x1b[A\x1b[A\r")
        assert await bob.line() == "<John> lost words"


async def test_after_reconnecting_the_client_returns_to_its_room(
    start_server: StartServer,
) -> None:
    server = await start_server()
    port = server.port
    async with interactive(port, "John", reconnect_delay=0.05) as term:
        await term.screen.wait_for("*** Hello John!")
        term.type("/join #games\r")
        await term.screen.wait_for("*** Now in #games (1 here): John")
        again = await restart(server, start_server)
        await term.screen.wait_for("*** Hello John!")
        await term.screen.wait_for("*** Now in #games (1 here): John")
        bob = await Client.join(again.port, "Bob")
        bob.send("/join games")
        await term.screen.wait_for("*** Bob joined (2 here)")


async def test_the_reconnect_delay_starts_afresh_after_a_connection_that_lived(
    start_server: StartServer,
) -> None:
    """Three outages, each after a connection that lived: the delay never grows."""
    server = await start_server()
    port = server.port
    async with interactive(port, "John", reconnect_delay=0.05, reconnect_reset=0.0) as term:
        for _ in range(3):
            await term.screen.wait_for("*** Hello John!")
            await server.shutdown()
            await term.screen.wait_for("-- connection lost; reconnecting in 0.05 s")
            server = await start_server(port=port)
        await term.screen.wait_for("*** Hello John!")


async def test_after_a_reconnect_quit_still_waits_for_the_goodbye(
    start_server: StartServer,
) -> None:
    server = await start_server()
    port = server.port
    async with interactive(port, "John", reconnect_delay=0.05) as term:
        await term.screen.wait_for("*** Hello John!")
        again = await restart(server, start_server)
        await term.screen.wait_for("*** Hello John!")
        bob = await Client.join(again.port, "Bob")
        await term.screen.wait_for("*** Bob joined (2 online)")
        term.type("/quit see you\r")
        assert await term.exit_code() == 0
        assert "*** Bye John!" in term.screen.getvalue()
        assert await bob.line() == "*** John left (quit: see you)"


async def test_without_reconnect_a_lost_connection_exits_1(start_server: StartServer) -> None:
    server = await start_server()
    async with interactive(server.port, "John", reconnect=False) as term:
        await term.screen.wait_for("*** Hello John!")
        await server.shutdown()
        assert await term.exit_code() == 1
        await term.screen.wait_for("-- connection lost")


async def test_a_silent_server_is_said_and_retried(start_server: StartServer) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with silent, interactive(port, "John", timeout=0.3, reconnect_delay=0.05) as term:
        await term.screen.wait_for(f"-- 127.0.0.1:{port}: no greeting within 0.3 s")
        await term.screen.wait_for("-- connection lost; reconnecting in 0.05 s")


async def test_no_server_is_one_line_on_stderr_and_exit_1() -> None:
    async with interactive(1, "John") as term:
        assert await term.exit_code() == 1
        assert term.errors.getvalue() == (
            "asyncchat: cannot connect to 127.0.0.1:1: Connection refused\n"
        )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("<Alice> hi", "public"),
        ("* Alice waves", "action"),
        ("*Alice* psst", "private-in"),
        ("-> *Bob* psst", "private-out"),
        ("*** Bob joined (2 online)", "notice"),
        ("*** error: nope", "error"),
        ("*** Recent messages in #lobby:", "history"),
        ("*** [2026-11-25 12:01] <Alice> hi", "history"),
        ("*** End of recent messages in #lobby", "history"),
        ("no prefix at all", "public"),
    ],
)
def test_each_kind_of_line_has_its_colour(line: str, kind: str) -> None:
    assert line_class(parse(line)) == kind


async def test_history_is_shown_in_local_time_like_any_line(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    alice.send("morning", "/ping said")
    await alice.until(lambda line: line == "*** pong said")
    said = server.hub.history.recent("lobby")[-1]
    local = time.strftime("%H:%M", time.localtime(said.time // 60 * 60))
    async with interactive(server.port, "John", timestamps=True) as term:
        await term.screen.wait_for("*** Recent messages in #lobby:")
        await term.screen.wait_for(f"[{local}] <Alice> morning")
        await term.screen.wait_for("*** End of recent messages in #lobby")
        assert "*** [20" not in term.screen.getvalue()  # no second, UTC clock


async def test_after_a_reconnect_history_repeats_nothing_already_shown(
    start_server: StartServer, tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    server = await start_server(db=db)
    port = server.port
    alice = await Client.join(port, "Alice")
    alice.send("before the restart", "/ping said")
    await alice.until(lambda line: line == "*** pong said")
    async with interactive(port, "John", reconnect_delay=0.05) as term:
        await term.screen.wait_for("<Alice> before the restart")
        await restart(server, start_server, db=db)
        await term.screen.wait_for("*** Hello John! Online (1): John.")
        term.type("/ping sync\r")
        await term.screen.wait_for("*** pong sync")
        after = term.screen.getvalue().rsplit("*** Hello John!", 1)[1]
        assert "before the restart" not in after
        assert "Recent messages" not in after


def pasted(text: str) -> str:
    """Keys as a terminal sends a paste (bracketed paste mode), then Enter."""
    return f"\x1b[200~{text}\x1b[201~\r"


async def test_each_pasted_line_is_handled_as_if_typed_alone(server: ChatServer) -> None:
    """The bug: 'Bob: first⏎second⏎third' sent the last two to everyone, shown as one line."""
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    await alice.line()
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await alice.line()
        await bob.line()
        term.type(pasted("Bob: first\nsecond\nthird"))
        assert await bob.lines(3) == ["*John* first", "<John> second", "<John> third"]
        assert await alice.lines(2) == ["<John> second", "<John> third"]
        await term.screen.wait_for("-> *Bob* first")
        term.type(pasted("public\nBob: private"))
        assert await alice.line() == "<John> public"
        assert await bob.lines(2) == ["<John> public", "*John* private"]
        await term.screen.wait_for("<John> public\r\n")  # its own line, not merged
        await term.screen.wait_for("-> *Bob* private")
        await alice.quiet()


async def test_a_paste_of_more_than_five_lines_asks_first(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await bob.line()
        seven = "\n".join(f"line {i}" for i in range(7))
        term.type(pasted(seven))
        await term.screen.wait_for("send the 7 pasted lines? (y/n)")
        term.type("n\r")
        await term.screen.wait_for("-- the 7 pasted lines were not sent")
        await bob.quiet()
        term.type(pasted(seven))
        await term.screen.wait_for("send the 7 pasted lines? (y/n)")
        term.type("y\r")
        assert await bob.lines(7) == [f"<John> line {i}" for i in range(7)]


async def test_ctrl_c_clears_a_line_being_typed_and_quits_only_when_empty(
    server: ChatServer,
) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await bob.line()
        term.type("half a thought\x03")
        term.type("hello\r")
        assert await bob.line() == "<John> hello"
        term.type("\x03")
        assert await term.exit_code() == 0
    assert await bob.line() == "*** John left"


async def test_a_mention_rings_the_bell_and_other_lines_do_not(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await alice.line()
        alice.send("johnny is not you", "/me waves")
        await term.screen.wait_for("* Alice waves")
        assert "\a" not in term.screen.getvalue()
        alice.send("hi john!")
        await term.screen.wait_for("<Alice> hi john!")
        assert term.screen.getvalue().count("\a") == 1  # rung as the line was printed
        alice.send("John: psst")
        await term.screen.wait_for("*Alice* psst")
        assert term.screen.getvalue().count("\a") == 2


async def test_no_bell_keeps_the_terminal_quiet(server: ChatServer) -> None:
    alice = await Client.join(server.port, "Alice")
    async with interactive(server.port, "John", bell=False) as term:
        await term.screen.wait_for("*** Hello John!")
        await alice.line()
        alice.send("hi john!", "John: psst")
        await term.screen.wait_for("*Alice* psst")
        assert "\a" not in term.screen.getvalue()


async def test_a_paste_is_split_only_at_line_endings(server: ChatServer) -> None:
    """U+2028 and friends are not line endings: the private line stays whole and private."""
    alice = await Client.join(server.port, "Alice")
    bob = await Client.join(server.port, "Bob")
    await alice.line()
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await alice.line()
        await bob.line()
        term.type(pasted("Bob: pw is\u2028hunter2"))
        assert await bob.line() == "*John* pw ishunter2"
        await alice.quiet()


async def test_ctrl_c_at_the_paste_question_answers_no(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        await bob.line()
        term.type(pasted("\n".join(f"line {i}" for i in range(6))))
        await term.screen.wait_for("send the 6 pasted lines? (y/n)")
        term.type("\x03")
        await term.screen.wait_for("-- the 6 pasted lines were not sent")
        term.type("still here\r")
        assert await bob.line() == "<John> still here"


async def test_a_paste_at_the_name_question_gives_only_the_name(server: ChatServer) -> None:
    john = await Client.join(server.port, "John")
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "john") as term:
        await term.screen.wait_for("name:")
        term.type(pasted("Johnny\nhello\nagain"))
        await term.screen.wait_for("*** Hello Johnny!")
        assert await bob.line() == "*** Johnny joined (3 online)"
        await bob.quiet()  # the other pasted lines were not sent
        await john.until(lambda line: line == "*** Johnny joined (3 online)")
        await john.quiet()
        assert "not connected: that line was not sent" not in term.screen.getvalue()


async def register_name(port: int, name: str, password: str) -> None:
    """Register `name` from a raw connection, then leave it free (but registered)."""
    owner = await Client.join(port, name)
    owner.send(f"/register {password}")
    assert await owner.line() == f"*** '{name}' is registered to you"
    owner.send("/quit")
    await owner.until(lambda line: line.startswith("*** Bye"))


async def test_the_password_question_is_answered_with_hidden_input(server: ChatServer) -> None:
    secret = "hunter2-but-longer"
    await register_name(server.port, "John", secret)
    bob = await Client.join(server.port, "Bob")
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("'John' is registered: type its password (it is not shown)")
        await term.screen.wait_for("password:")
        term.type("wrong-one-first\r")
        await term.screen.wait_for("*** error: wrong password")
        await term.screen.wait_for("name:")
        term.type("John\r")
        await term.screen.wait_for("password:")
        term.type(secret + "\r")
        await term.screen.wait_for("*** Hello John!")
        assert await bob.line() == "*** John joined (2 online)"
        term.type("/ping kept\r")
        await term.screen.wait_for("*** pong kept")
        term.type(f"/password {secret} another-secret-1\r")
        await term.screen.wait_for("*** the password of 'John' is changed")
        term.type("\x1b[A\r")  # Up: the last line kept in the history is the ping
        await term.screen.wait_for("*** pong kept")
    shown = term.screen.getvalue()
    for typed in (secret, "wrong-one-first", "another-secret-1"):
        assert typed not in shown


async def test_the_history_keeps_no_line_with_a_password(server: ChatServer) -> None:
    async with interactive(server.port, "John") as term:
        await term.screen.wait_for("*** Hello John!")
        term.type("/ping before\r")
        await term.screen.wait_for("*** pong before")
        term.type("/register secret-words-1\r")
        await term.screen.wait_for("*** 'John' is registered to you")
        term.type("/identify John secret-words-1\r")
        await term.screen.wait_for("*** error: you are identified as John already")
        term.type("\x1b[A\r")  # Up brings back the last line that was not secret
        await term.screen.wait_for("*** pong before")
    assert "secret-words-1" not in term.screen.getvalue()


async def test_a_reconnect_signs_in_again_without_asking(
    tmp_path: Path, start_server: StartServer
) -> None:
    db = str(tmp_path / "chat.db")
    server = await start_server(db=db)
    async with interactive(server.port, "John", reconnect_delay=0.05) as term:
        await term.screen.wait_for("*** Hello John!")
        term.type("/register secret-words-2\r")
        await term.screen.wait_for("*** 'John' is registered to you")
        server = await restart(server, start_server, db=db)
        await term.screen.wait_for("*** Hello John!")
        assert "type its password" not in term.screen.getvalue()
        # Signed in elsewhere: this terminal does not fight for the name back.
        other = await Client.connect(server.port)
        await other.line()
        other.send("John")
        assert await other.line() == (
            "*** 'John' is registered: send its password (or another name)"
        )
        other.send("secret-words-2")
        assert (await other.line()).startswith("*** Hello John! Online (1): John.")
        await term.screen.wait_for("*** signed in elsewhere")
        await term.screen.wait_for("-- signed in elsewhere: not reconnecting")
        assert await term.exit_code() == EXIT_CONNECTION
        await other.quiet()
