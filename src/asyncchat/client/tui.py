"""The interactive terminal client on prompt_toolkit.

Two tasks: the keyboard (a prompt that stays at the bottom) and the
connection (register, print what arrives above the prompt, reconnect).
Whichever ends first ends the session; prompt_toolkit restores the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from enum import Enum
from typing import TextIO, cast

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application.current import get_app_session
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText, OneStyleAndTextTuple, StyleAndTextTuples
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.styles import Style

from asyncchat.client.client import (
    EXIT_CONNECTION,
    EXIT_OK,
    PASSWORD_ENV,
    ConnectionLost,
    NameRefused,
    ServerConnection,
    Silent,
    connect,
    os_reason,
    register,
)
from asyncchat.client.completion import completions, word_start
from asyncchat.client.highlight import mentions, nick_class
from asyncchat.client.roster import Roster
from asyncchat.config import ClientConfig
from asyncchat.core import commands
from asyncchat.core.events import (
    Bye,
    Error,
    Event,
    HistoryEnd,
    HistoryLine,
    HistoryStart,
    Private,
    PrivateSent,
    Record,
    Said,
)
from asyncchat.frontends.line.parser import carries_password, parse_command
from asyncchat.frontends.line.wire import ERROR, final_reason, parse, render

STYLE = Style.from_dict(
    {
        "time": "#888888",
        "public": "",
        "action": "ansimagenta",
        "private-in": "ansiyellow bold",
        "private-out": "ansigreen",
        "notice": "ansicyan",
        "error": "ansired bold",
        "local": "#888888 italic",
        "history": "#888888",
        "prompt": "bold",
        "mention": "bold reverse",
        "nick0": "ansired",
        "nick1": "ansigreen",
        "nick2": "ansiyellow",
        "nick3": "ansiblue",
        "nick4": "ansimagenta",
        "nick5": "ansicyan",
        "nick6": "ansibrightred",
        "nick7": "ansibrightgreen",
    }
)
_KINDS: dict[type, str] = {
    Private: "private-in",
    PrivateSent: "private-out",
    Error: "error",
    HistoryStart: "history",
    HistoryLine: "history",
    HistoryEnd: "history",
}


def line_class(event: Event | None) -> str:
    """The style class of a server line: one colour per kind of line."""
    if event is None:
        return "public"
    if isinstance(event, Said):
        return "action" if event.record.action else "public"
    return _KINDS.get(type(event), "notice")


class ChatCompleter(Completer):
    """Tab completes commands and the names the roster currently knows."""

    def __init__(self, roster: Roster) -> None:
        self._roster = roster

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        start = word_start(before)
        roster = self._roster
        for text in completions(before, roster.names, roster.me, roster.rooms):
            yield Completion(text, start_position=start)


PASTE_CONFIRM = 5
"""A paste of more lines than this is sent only after a yes."""
SEEN_LINES = 1000
"""Public lines remembered so that history after a reconnect repeats none of them."""
WRONG_PASSWORD = "wrong password"


class SecretFreeHistory(InMemoryHistory):
    """The input history (Up, Down) without any line that carries a password:
    /identify, /register, /password, /unregister, and the answer to the
    password question (`asking` is true while it is asked)."""

    def __init__(self, asking: Callable[[], bool]) -> None:
        super().__init__()
        self._asking = asking

    def append_string(self, string: str) -> None:
        if self._asking() or any(carries_password(line) for line in string.split("\n")):
            return
        super().append_string(string)


class HideSecrets(Processor):
    """Shows '*' for what is typed after a password command's word (/identify,
    /register, …), and for the whole answer to the password question."""

    def __init__(self, asking: Callable[[], bool]) -> None:
        self._asking = asking

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        text = ti.document.text
        if self._asking():
            shown_from = 0
        elif carries_password(text):
            word = text.lstrip().split(None, 1)[0]
            shown_from = len(text) - len(text.lstrip()) + len(word)
        else:
            return Transformation(ti.fragments)
        start = sum(len(line) + 1 for line in ti.document.lines[: ti.lineno])
        fragments: StyleAndTextTuples = []
        for style, part, *handler in ti.fragments:
            kept = max(0, min(len(part), shown_from - start))
            masked = part[:kept] + "".join(" " if c == " " else "*" for c in part[kept:])
            fragments.append(cast(OneStyleAndTextTuple, (style, masked, *handler)))
            start += len(part)
        return Transformation(fragments)


def _keys() -> KeyBindings:
    """Ctrl-C clears a line being typed and quits only on an empty one, as shells do."""
    keys = KeyBindings()

    @keys.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return keys


class Screen:
    """Prints lines above the prompt, with local time and colour if wanted."""

    def __init__(self, config: ClientConfig) -> None:
        self._timestamps = config.timestamps
        self._color = config.color
        self._bell = config.bell

    def show(self, line: str, style: str, when: float | None = None) -> None:
        """`when`: the line's own time (history), else now; shown in local time."""
        self._print([(f"class:{style}", line)], when)

    def server(self, line: str, event: Event | None) -> None:
        self.show(line, line_class(event))

    def said(self, line: str, event: Said, me: str) -> None:
        """A public line or action: the nick in its own colour; a mention of `me`
        highlighted, with the terminal bell unless --no-bell."""
        record = event.record
        mentioned = record.sender.casefold() != me.casefold() and mentions(record.text, me)
        style = "mention" if mentioned else line_class(event)
        head = f"* {record.sender}" if record.action else f"<{record.sender}>"
        nick = f"class:{nick_class(record.sender)}"
        self._print([(nick, head), (f"class:{style}", line[len(head) :])])
        if mentioned and self._bell:
            get_app_session().output.bell()

    def _print(self, parts: list[tuple[str, str]], when: float | None = None) -> None:
        if self._timestamps:
            parts = [("class:time", time.strftime("[%H:%M] ", time.localtime(when))), *parts]
        if self._color:
            print_formatted_text(FormattedText(parts), style=STYLE)
        else:
            print_formatted_text("".join(text for _, text in parts))

    def local(self, text: str) -> None:
        """A message from the client itself, not the server."""
        self.show(f"-- {text}", "local")


class _Ended(Enum):
    QUIT = "quit"
    LOST = "lost"
    FINAL = "final"
    """Signed in elsewhere, kicked or banned: not reconnecting."""


class InteractiveClient:
    def __init__(self, config: ClientConfig, stderr: TextIO | None = None) -> None:
        self._config = config
        self._stderr = stderr or sys.stderr
        self._screen = Screen(config)
        self._roster = Roster()
        self._wanted = config.name
        self._conn: ServerConnection | None = None
        self._name_reply: asyncio.Future[str] | None = None
        self._password_reply: asyncio.Future[str | None] | None = None
        # The password typed for our registered name, to sign in again after a reconnect.
        self._secret: str | None = os.environ.get(PASSWORD_ENV) or None
        self._ended = asyncio.Event()
        # Public lines shown lately, by (minute, sender, text): history repeats none.
        self._seen: dict[tuple[int, str, str], None] = {}
        self._history_header: str | None = None
        self._history_open = False
        self._paste: list[str] | None = None

    async def run(self) -> int:
        conn = await connect(self._config, self._stderr)
        if conn is None:
            return EXIT_CONNECTION
        connection = asyncio.create_task(self._connection(conn))
        keyboard = asyncio.create_task(self._keyboard())
        try:
            done, _ = await asyncio.wait({connection, keyboard}, return_when="FIRST_COMPLETED")
            if keyboard in done:
                await self._quit(keyboard.result())
                return EXIT_OK
            return connection.result()
        finally:
            for task in (connection, keyboard):
                task.cancel()
            await asyncio.gather(connection, keyboard, return_exceptions=True)

    async def _quit(self, line: str) -> None:
        if self._conn is None:
            return
        self._conn.send(line)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), self._config.quit_timeout)

    async def _connection(self, conn: ServerConnection | None) -> int:
        """Keep a registered connection; reconnect with backoff when it is lost."""
        delay = self._config.reconnect_delay
        while True:
            if conn is None:
                try:
                    conn = await ServerConnection.open(self._config)
                except OSError as problem:
                    reason = os_reason(problem)
                    self._screen.local(f"cannot reconnect ({reason}); next try in {delay:g} s")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._config.reconnect_max)
                    continue
            opened = asyncio.get_running_loop().time()
            try:
                ended = await self._session(conn)
            finally:
                self._conn = None
                await conn.close()
                conn = None
            if asyncio.get_running_loop().time() - opened >= self._config.reconnect_reset:
                delay = self._config.reconnect_delay  # it was up a while: start afresh
            if ended is _Ended.QUIT:
                return EXIT_OK
            if ended is _Ended.FINAL:
                return EXIT_CONNECTION
            if not self._config.reconnect:
                self._screen.local("connection lost")
                return EXIT_CONNECTION
            self._screen.local(f"connection lost; reconnecting in {delay:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._config.reconnect_max)

    async def _session(self, conn: ServerConnection) -> _Ended:
        try:
            while True:
                try:
                    hello, line = await register(
                        conn, self._wanted, self._config.timeout, self._ask_password
                    )
                    break
                except Silent as silent:
                    self._screen.local(f"{self._config.host}:{self._config.port}: {silent}")
                    self._ended.set()
                    return _Ended.LOST
                except NameRefused as refused:
                    if str(refused) == WRONG_PASSWORD:
                        self._secret = None
                    self._screen.show(ERROR + str(refused), "error")
                    self._wanted = await self._ask_name()
            self._conn = conn
            self._ended.clear()  # a new session: the last one's end is no answer to /quit
            room = self._roster.room
            self._roster.apply(hello)
            if room != self._roster.room:
                conn.send(f"/join {room}")
            self._wanted = hello.name
            self._screen.server(line, hello)
            while True:
                line = await conn.line()
                event = parse(line)
                self._roster.apply(event)
                self._wanted = self._roster.me
                self._show(line, event)
                if isinstance(event, Bye):
                    self._ended.set()
                    return _Ended.QUIT
                final = final_reason(event)
                if final is not None:
                    self._screen.local(f"{final}: not reconnecting")
                    self._ended.set()
                    return _Ended.FINAL
        except ConnectionLost:
            self._ended.set()
            self._paste = None  # a question about a paste for a connection that is gone
            return _Ended.LOST

    def _show(self, line: str, event: Event | None) -> None:
        """Print a server line; history in local time, each line once, and its
        frame only when it has a line not shown before (after a reconnect)."""
        match event:
            case HistoryStart():
                self._history_header = line if self._config.history else None
                self._history_open = False
                return
            case HistoryLine(record):
                key = (int(record.time // 60), record.sender, record.text)
                if not self._config.history or self._shown_before(key):
                    return
                self._remember(key)
                if self._history_header is not None:
                    self._screen.show(self._history_header, "history")
                    self._history_header = None
                    self._history_open = True
                [said] = render(Said(record))
                self._screen.show(said, "history", when=record.time)
                return
            case HistoryEnd():
                if self._history_open:
                    self._screen.server(line, event)
                self._history_header, self._history_open = None, False
                return
            case Said(record):
                self._remember((int(time.time() // 60), record.sender, record.text))
                self._screen.said(line, event, self._roster.me)
                return
            case Private():  # a private message is for you: it rings too
                self._screen.server(line, event)
                if self._config.bell:
                    get_app_session().output.bell()
                return
        self._screen.server(line, event)

    def _shown_before(self, key: tuple[int, str, str]) -> bool:
        """Seen within a minute either way: a line said at :59.9 may arrive at :00.0,
        and the client's clock need not agree with the server's to the second."""
        minute, sender, text = key
        return any((minute + d, sender, text) in self._seen for d in (-1, 0, 1))

    def _remember(self, key: tuple[int, str, str]) -> None:
        self._seen[key] = None
        if len(self._seen) > SEEN_LINES:
            del self._seen[next(iter(self._seen))]

    async def _ask_password(self, name: str) -> str | None:
        """The password of a registered name: the one typed before (a reconnect), or
        asked now with hidden input. An empty answer gives the name up."""
        if self._secret is not None:
            return self._secret
        self._screen.local(f"'{name}' is registered: type its password (it is not shown)")
        self._password_reply = asyncio.get_running_loop().create_future()
        try:
            self._secret = await self._password_reply
        finally:
            self._password_reply = None
        return self._secret

    async def _ask_name(self) -> str:
        self._screen.local("type another name and press Enter")
        self._name_reply = asyncio.get_running_loop().create_future()
        try:
            return await self._name_reply
        finally:
            self._name_reply = None

    def _prompt(self) -> FormattedText:
        if self._paste is not None:
            question = f"send the {len(self._paste)} pasted lines? (y/n) "
            return FormattedText([("class:prompt", question)])
        if self._password_reply is not None:
            return FormattedText([("class:prompt", "password: ")])
        if self._name_reply is not None:
            return FormattedText([("class:prompt", "name: ")])
        me = self._roster.me or self._wanted
        if self._conn is None:  # typing goes nowhere now: say so where one looks
            return FormattedText([("class:prompt", f"(not connected) {me}> ")])
        return FormattedText([("class:prompt", f"#{self._roster.room} {me}> ")])

    async def _keyboard(self) -> str:
        """Read lines until the user quits; return the line to quit with."""
        session: PromptSession[str] = PromptSession(
            completer=ChatCompleter(self._roster),
            complete_while_typing=False,
            history=SecretFreeHistory(lambda: self._password_reply is not None),
            input_processors=[HideSecrets(lambda: self._password_reply is not None)],
            erase_when_done=True,
            style=STYLE if self._config.color else None,
            key_bindings=_keys(),
        )
        while True:
            try:
                text = await session.prompt_async(self._prompt)
            except (KeyboardInterrupt, EOFError):
                if self._password_reply is not None and not self._password_reply.done():
                    self._password_reply.set_result(None)  # Ctrl-C: not this name after all
                    continue
                if self._paste is None:
                    return "/quit"
                text = "n"  # Ctrl-C at the paste question: no, not quit
            # Only a line ending splits a paste; splitlines() would also cut at
            # U+2028 and friends, and send the rest of a private line publicly.
            lines = [line for line in text.split("\n") if line.strip()]
            if self._password_reply is not None and not self._password_reply.done():
                self._password_reply.set_result(text.strip() or None)
                continue
            if self._name_reply is not None and not self._name_reply.done():
                self._paste = None
                if lines:
                    self._name_reply.set_result(lines[0].strip())
                continue
            if self._paste is not None:
                pasted, self._paste = self._paste, None
                if text.strip().lower() not in ("y", "yes"):
                    self._screen.local(f"the {len(pasted)} pasted lines were not sent")
                    continue
                lines = pasted
            elif len(lines) > PASTE_CONFIRM:
                self._paste = lines
                continue
            for line in lines:
                quit_with = self._typed(line)
                if quit_with is not None:
                    return quit_with

    def _typed(self, text: str) -> str | None:
        """One line as if typed alone (a paste is many): the line to quit with, if it quits."""
        stripped = text.strip()
        if stripped == "q":
            return "/quit"
        if stripped.split(maxsplit=1)[0].lower() == "/quit":
            return stripped
        self._send(text)
        return None

    def _send(self, text: str) -> None:
        if self._conn is None:
            self._screen.local("not connected: that line was not sent (Up brings it back)")
            return
        self._conn.send(text)
        command = parse_command(text)
        self._keep_secret(command)
        echo = self._echo(command)
        if echo is not None:
            [line] = render(echo)
            self._show(line, echo)

    def _keep_secret(self, command: commands.Command | None) -> None:
        """Remember the password of our name as sent, to sign in after a reconnect
        (a wrong guess is forgotten when the server says so)."""
        match command:
            case commands.RegisterAccount(secret) | commands.Identify(_, secret):
                self._secret = secret
            case commands.ChangePassword(_, new):
                self._secret = new
            case commands.Unregister(_):
                self._secret = None

    def _echo(self, command: commands.Command | None) -> Event | None:
        """What others see of our public lines (the server does not echo them)."""
        match command:
            case commands.Say(said):
                return Said(Record("", time.time(), self._roster.me, said))
            case commands.Act(done):
                return Said(Record("", time.time(), self._roster.me, done, action=True))
        return None


def run_interactive(config: ClientConfig) -> int:
    from asyncchat.edge import loop

    return loop.run(InteractiveClient(config).run())
