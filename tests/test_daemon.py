"""The real `asyncchat serve` process: flags, logging, signals, exit codes."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from support import TIMEOUT, Client

LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


class Daemon:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []

    async def log_until(self, pattern: str) -> re.Match[str]:
        assert self.process.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            while True:
                raw = await self.process.stderr.readline()
                assert raw, f"daemon exited before logging {pattern!r}: {self.log}"
                self.log.append(raw.decode())
                match = re.search(pattern, self.log[-1])
                if match:
                    return match


@asynccontextmanager
async def daemon(*flags: str) -> AsyncIterator[Daemon]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncchat",
        "serve",
        "--port",
        "0",
        *flags,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Daemon(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_tells_everyone_and_exits_zero(signum: signal.Signals) -> None:
    async with daemon() as server:
        port = int((await server.log_until(LISTENING.pattern))[2])
        alice = await Client.join(port, "Alice")
        bob = await Client.join(port, "Bob")
        await alice.line()
        lurker = await Client.connect(port)
        await lurker.line()
        await server.log_until("Bob joined")

        server.process.send_signal(signum)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for client in (alice, bob, lurker):
            assert await client.closed() == b"*** server is shutting down\r\n"
        assert await asyncio.wait_for(server.process.wait(), 5) == 0
        assert loop.time() - started < 5
        await server.log_until("stopped")


async def test_logs_joins_and_leaves_but_no_message_text() -> None:
    async with daemon("--log-level", "info") as server:
        port = int((await server.log_until(LISTENING.pattern))[2])
        assert any("uvloop" in line or "asyncio event loop" in line for line in server.log)
        alice = await Client.join(port, "Alice")
        bob = await Client.join(port, "Bob")
        await alice.line()
        alice.send("the secret word", "Bob: private secret")
        await bob.lines(2)
        bob.send("/quit")
        await bob.closed()
        await server.log_until(r"Bob left \(quit\)")
        server.process.terminate()
        await server.process.wait()
        assert server.process.stderr is not None
        server.log.append((await server.process.stderr.read()).decode())
        assert "secret" not in "".join(server.log)
        assert "Alice joined" in "".join(server.log)


async def test_a_busy_port_is_one_clear_error_and_exit_1() -> None:
    async with daemon() as first:
        port = (await first.log_until(LISTENING.pattern))[2]
        async with daemon("--port", port) as second:
            assert await asyncio.wait_for(second.process.wait(), TIMEOUT) == 1
            assert second.process.stderr is not None
            err = (await second.process.stderr.read()).decode()
            assert f"cannot listen on 127.0.0.1:{port}" in err
            assert "Traceback" not in err


async def test_bad_flag_values_are_refused_with_the_reason() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncchat",
        "serve",
        "--max-line",
        "10",
        "--burst",
        "0",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2
    assert b"--max-line must be at least 64" in err
    assert b"--burst must be at least 1" in err
