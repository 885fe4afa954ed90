"""The real `asyncchat serve` process: flags, logging, signals, exit codes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from support import LISTENING, TIMEOUT, Client, daemon

from asyncchat.edge.notify import notify


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


async def history_after_restart(db: Path, kill: signal.Signals) -> list[str]:
    """Say 30 lines, stop the daemon with `kill`, start it again, return the history shown."""
    async with daemon("--db", str(db), "--rate", "0") as server:
        port = int((await server.log_until(LISTENING.pattern))[2])
        alice = await Client.join(port, "Alice")
        bob = await Client.join(port, "Bob")
        await alice.line()
        alice.send(*(f"line {i}" for i in range(30)))
        assert (await bob.lines(30))[-1] == "<Alice> line 29"
        if kill is signal.SIGKILL:
            # The documented crash window: what was accepted 100 ms ago is on disk.
            await asyncio.sleep(0.1)
        server.process.send_signal(kill)
        await asyncio.wait_for(server.process.wait(), 5)
    async with daemon("--db", str(db)) as server:
        port = int((await server.log_until(LISTENING.pattern))[2])
        carol = await Client.connect(port)
        await carol.line()
        carol.send("Carol")
        lines = await carol.until(lambda line: line.startswith("*** End of recent"))
        return [line.split("] ", 1)[1] for line in lines if line.startswith("*** [")]


async def test_history_survives_a_graceful_restart(tmp_path: Path) -> None:
    shown = await history_after_restart(tmp_path / "chat.db", signal.SIGTERM)
    assert shown == [f"<Alice> line {i}" for i in range(10, 30)]


async def test_sigkill_loses_nothing_older_than_the_crash_window(tmp_path: Path) -> None:
    shown = await history_after_restart(tmp_path / "chat.db", signal.SIGKILL)
    assert shown == [f"<Alice> line {i}" for i in range(10, 30)]


async def test_a_bad_database_stops_the_start_with_exit_1_and_is_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "important.txt"
    path.write_bytes(b"not a database" * 1000)
    async with daemon("--db", str(path)) as server:
        assert await asyncio.wait_for(server.process.wait(), TIMEOUT) == 1
        assert server.process.stderr is not None
        err = (await server.process.stderr.read()).decode()
    assert f"{path} is not an SQLite database" in err
    assert "listening" not in err
    assert "Traceback" not in err
    assert path.read_bytes() == b"not a database" * 1000


async def test_a_database_in_use_by_another_server_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    async with daemon("--db", db) as first:
        await first.log_until(LISTENING.pattern)
        async with daemon("--db", db) as second:
            assert await asyncio.wait_for(second.process.wait(), TIMEOUT) == 1
            assert second.process.stderr is not None
            err = (await second.process.stderr.read()).decode()
        assert "in use by another process" in err


async def test_the_default_database_lives_in_xdg_data_home(tmp_path: Path) -> None:
    async with daemon(env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}) as server:
        await server.log_until(LISTENING.pattern)
        assert (tmp_path / "asyncchat" / "chat.db").exists()
        assert any(str(tmp_path / "asyncchat" / "chat.db") in line for line in server.log)
        server.process.terminate()
        assert await server.process.wait() == 0


async def test_it_tells_systemd_when_it_is_ready_and_when_it_stops(tmp_path: Path) -> None:
    """Type=notify: READY=1 once it listens (a client can join at once), STOPPING=1 on
    SIGTERM. A real datagram socket stands where systemd's would be."""
    path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    async with daemon(env={**os.environ, "NOTIFY_SOCKET": str(path)}) as server:
        ready = await asyncio.wait_for(loop.sock_recv(listener, 4096), TIMEOUT)
        lines = ready.decode().splitlines()
        assert lines[0] == "READY=1"
        port = int(lines[1].rsplit(" ", 1)[1])
        alice = await Client.join(port, "Alice")
        server.process.send_signal(signal.SIGTERM)
        stopping = await asyncio.wait_for(loop.sock_recv(listener, 4096), TIMEOUT)
        assert stopping == b"STOPPING=1"
        assert await alice.closed() == b"*** server is shutting down\r\n"
        assert await asyncio.wait_for(server.process.wait(), TIMEOUT) == 0
    listener.close()


def test_without_a_service_manager_nothing_is_sent() -> None:
    assert notify("READY=1", environ={}) is False


async def test_an_abstract_socket_name_is_understood() -> None:
    name = f"asyncchat-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.setblocking(False)
    assert notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name}) is True
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.sock_recv(listener, 64), TIMEOUT) == b"READY=1"
    listener.close()
