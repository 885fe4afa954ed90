"""A real IRC client, weechat-headless, in the chat with a line user.

Weechat is driven through its FIFO (the fifo plugin) and read through its
log files (the logger plugin, flushed at once). `.ci/run` installs the
Debian package; where it is missing the test is skipped, unless
ASYNCCHAT_REQUIRE_CLIENTS is set (CI sets it), so CI cannot pass without it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from support import Client, StartServer

WEECHAT = shutil.which("weechat-headless")
pytestmark = pytest.mark.skipif(
    WEECHAT is None and not os.environ.get("ASYNCCHAT_REQUIRE_CLIENTS"),
    reason="weechat-headless is not installed (apt-get install weechat-headless)",
)
WAIT = 15.0


def text_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def until_text(path: Path, text: str) -> str:
    """Wait (at most WAIT s) until the file, written by another process, holds `text`."""
    deadline = time.monotonic() + WAIT
    seen = ""
    while time.monotonic() < deadline:
        seen = text_of(path)
        if text in seen:
            return seen
        await asyncio.sleep(0.05)  # another process writes the file: poll it
    raise AssertionError(f"{text!r} not in {path}: {seen[-2000:]!r}")


async def fifo_of(directory: Path) -> Path:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = sorted(directory.glob("weechat_fifo_*"))  # noqa: ASYNC240
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("weechat made no FIFO")


async def test_weechat_and_a_line_user_talk_in_the_lobby(
    start_server: StartServer, tmp_path: Path
) -> None:
    assert WEECHAT is not None, (
        "weechat-headless is required here (apt-get install weechat-headless)"
    )
    server = await start_server(irc_port=0, server_name="irc.test", db=str(tmp_path / "chat.db"))
    nc = await Client.join(server.port, "Nc")
    nc.send("said before weechat came")
    await nc.quiet()
    home = tmp_path / "weechat"
    home.mkdir()
    commands = ";".join(
        [
            "/set plugins.var.fifo.fifo on",
            "/set logger.file.flush_delay 0",
            "/set logger.file.auto_log on",
            f"/server add test 127.0.0.1/{server.port_of('irc')} -notls -nicks=WeeUser"
            " -autojoin=#lobby",
            "/connect test",
        ]
    )
    weechat = await asyncio.create_subprocess_exec(
        WEECHAT,
        "--dir",
        str(home),
        "-r",
        commands,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await nc.until(lambda line: line == "*** WeeUser joined (2 online)", timeout=WAIT)
        lobby = home / "logs" / "irc.test.#lobby.weechatlog"
        await until_text(lobby, "said before weechat came")  # history on join
        nc.send("hello weechat", "/me nods", "WeeUser: psst")
        assert await nc.line() == "-> *WeeUser* psst"
        await until_text(lobby, "hello weechat")
        await until_text(lobby, "Nc nods")
        await until_text(home / "logs" / "irc.test.nc.weechatlog", "psst")
        fifo = await fifo_of(home)
        with fifo.open("w") as pipe:
            pipe.write("irc.test.#lobby *hello nc, from weechat\n")
            pipe.write("irc.test.#lobby */me waves\n")
            pipe.write("irc.server.test */msg Nc a private word\n")
        assert await nc.lines(3, timeout=WAIT) == [
            "<WeeUser> hello nc, from weechat",
            "* WeeUser waves",
            "*WeeUser* a private word",
        ]
        await until_text(lobby, "hello nc, from weechat")  # its own lines, in its log
    finally:
        if weechat.returncode is None:
            weechat.kill()
        await weechat.wait()
