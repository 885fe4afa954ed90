"""TLS listeners: the same protocol over TLS, certificates from trustme, real sockets."""

from __future__ import annotations

import asyncio
import signal
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from support import TIMEOUT, Client, StartServer, daemon, flood_until_cut, issue, run_join


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def tls_client(port: int, ca: trustme.CA) -> Client:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=trusting(ca), server_hostname="127.0.0.1"
    )
    return Client(reader, writer)


async def tls_join(port: int, ca: trustme.CA, name: str) -> Client:
    client = await tls_client(port, ca)
    assert await client.line() == "*** Welcome to asyncchat! What is your name?"
    client.send(name)
    assert (await client.line()).startswith(f"*** Hello {name}!")
    return client


@pytest.fixture
def pem(ca: trustme.CA, tmp_path: Path) -> str:
    return issue(ca, tmp_path)


def replace_certificate(pem: str, ca: trustme.CA, where: Path) -> None:
    """Put a certificate from another CA in place, as an operator renewing it would."""
    where.mkdir()
    Path(pem).write_text(Path(issue(ca, where)).read_text())


async def test_the_same_chat_over_tls_and_plain(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0)
    alice = await tls_join(server.tls_port, ca, "Alice")
    bob = await Client.join(server.port, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    bob.send("Alice: over the wire", "in the clear")
    assert await alice.lines(2) == ["*Bob* over the wire", "<Bob> in the clear"]
    assert await bob.line() == "-> *Alice* over the wire"
    alice.send("/me waves securely")
    assert await bob.line() == "* Alice waves securely"


async def test_no_plain_listens_on_tls_only(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0, no_plain=True)
    assert len(server.addresses) == 1
    assert server.port == server.tls_port
    await tls_join(server.tls_port, ca, "Alice")


async def test_sighup_reloads_the_certificate_without_dropping_anyone(
    ca: trustme.CA, pem: str, tmp_path: Path
) -> None:
    async with daemon("--tls-cert", pem, "--tls-key", pem, "--tls-port", "0") as server:
        port = int((await server.log_until(r"listening on [\d.]+:(\d+) \(TLS\)"))[1])
        alice = await tls_join(port, ca, "Alice")
        other = trustme.CA()
        replace_certificate(pem, other, tmp_path / "other")
        server.process.send_signal(signal.SIGHUP)
        await server.log_until("reloaded the TLS certificate")
        bob = await tls_join(port, other, "Bob")
        assert await alice.line() == "*** Bob joined (2 online)"
        with pytest.raises(ssl.SSLCertVerificationError):
            await tls_client(port, ca)  # the old CA no longer vouches for the server
        bob.send("still here?")
        assert await alice.line() == "<Bob> still here?"


async def test_an_unusable_certificate_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    async with daemon("--tls-cert", missing, "--tls-key", missing) as server:
        assert await asyncio.wait_for(server.process.wait(), TIMEOUT) == 1
        assert server.process.stderr is not None
        err = (await server.process.stderr.read()).decode()
    assert f"cannot use --tls-cert {missing}" in err
    assert "Traceback" not in err


async def test_a_slow_reader_over_tls_is_cut_off_too(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    """The send-queue cut-off counts what TLS has not sent yet, as plain does."""
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0, max_sendq=64 * 1024, rate=0)
    sender = await Client.join(server.port, "Sender")
    slow = await tls_join(server.tls_port, ca, "Slow")
    assert await sender.line() == "*** Slow joined (2 online)"
    slow.stop_reading()
    # At most 10 MB, far past any kernel buffer.
    await flood_until_cut(sender, "Slow", per_round=50, rounds=200, seconds=20)
    assert server.hub.find("slow") is None


async def test_the_client_joins_over_tls_with_its_own_ca(
    start_server: StartServer, ca: trustme.CA, pem: str, tmp_path: Path
) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    bob = await Client.join(server.port, "Bob")
    code, _, err = await run_join(
        server.tls_port, "--tls-ca", str(ca_file), "Carol", stdin=b"Bob: sealed\n"
    )
    assert code == 0, err
    assert await bob.lines(2) == ["*** Carol joined (2 online)", "*Carol* sealed"]
    code, _, err = await run_join(server.tls_port, "--tls", "Dave")
    assert code == 1  # the system's CAs do not know trustme's
    assert err.startswith(f"asyncchat: cannot connect to 127.0.0.1:{server.tls_port}: TLS:")


async def test_a_failed_reload_keeps_the_old_certificate_working(
    start_server: StartServer,
    ca: trustme.CA,
    pem: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A renewal caught half written (a new certificate, the old key) must not
    break the handshakes that worked: the reload is tried before it is applied."""
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0)
    alice = await tls_join(server.tls_port, ca, "Alice")
    write_mismatched(pem, trustme.CA(), tmp_path / "other")
    server.reload_tls()
    assert any("could not reload the TLS certificate" in r.getMessage() for r in caplog.records)
    bob = await tls_join(server.tls_port, ca, "Bob")
    assert await alice.line() == "*** Bob joined (2 online)"
    await bob.quiet()


def write_mismatched(pem: str, other: trustme.CA, where: Path) -> None:
    """A new certificate beside a key that is not its own."""
    where.mkdir()
    key = Path(pem).read_text().split("-----BEGIN CERTIFICATE-----")[0]
    certificate = other.issue_cert("127.0.0.1").cert_chain_pems[0].bytes().decode()
    Path(pem).write_text(key + certificate)


async def test_the_client_says_why_tls_failed(start_server: StartServer, pem: str) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0)
    for port, why in [
        (server.tls_port, "TLS: the server's certificate is not trusted"),
        (server.port, "TLS: the server does not speak TLS there (a plaintext port?)"),
    ]:
        code, _, err = await run_join(port, "--tls", "Eve")
        assert code == 1
        assert why in err, err


async def test_a_clean_close_over_tls_leaves_quietly(
    start_server: StartServer, ca: trustme.CA, pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0)
    bob = await Client.join(server.port, "Bob")
    alice = await tls_join(server.tls_port, ca, "Alice")
    assert await bob.line() == "*** Alice joined (2 online)"
    alice.writer.write_eof() if alice.writer.can_write_eof() else alice.writer.close()
    assert await bob.line() == "*** Alice left (connection closed)"
    assert not any("eof_received" in r.getMessage() for r in caplog.records)


async def test_accounts_ghosts_and_operators_over_tls(
    start_server: StartServer, ca: trustme.CA, pem: str, tmp_path: Path
) -> None:
    """The identity part of the contract over TLS only: the password question,
    a wrong password, a ghost taken over, /identify, an operator's kick and ban."""
    server = await start_server(
        tls_cert=pem, tls_key=pem, tls_port=0, no_plain=True, oper=("Op",), db=str(tmp_path / "db")
    )
    port = server.tls_port
    op = await tls_join(port, ca, "Op")
    op.send("/register op-secret-1")
    assert await op.line() == "*** 'Op' is registered to you"
    ghost = await tls_join(port, ca, "Alice")
    assert await op.line() == "*** Alice joined (2 online)"
    ghost.send("/register alice-secret")
    assert await ghost.line() == "*** 'Alice' is registered to you"

    alice = await tls_client(port, ca)
    await alice.line()
    alice.send("Alice")
    assert await alice.line() == "*** 'Alice' is registered: send its password (or another name)"
    alice.send("not-it-at-all")
    assert await alice.lines(2) == [
        "*** error: wrong password",
        "*** Please choose another name: type your name and press Enter.",
    ]
    alice.send("Alice")
    await alice.line()
    alice.send("alice-secret")
    assert await ghost.line() == "*** signed in elsewhere"
    assert (await alice.line()).startswith("*** Hello Alice! Online (2): Alice, Op.")
    assert await op.line() == "*** Alice left (signed in elsewhere)"
    assert await op.line() == "*** Alice joined (2 online)"

    mallory = await tls_join(port, ca, "Mallory")
    assert await op.line() == "*** Mallory joined (3 online)"
    mallory.send("/identify Alice guess-one")
    assert await mallory.line() == "*** error: wrong password"
    op.send("/ban Mallory 5 guessing passwords")
    assert await mallory.line() == "*** error: you are banned by Op: guessing passwords"
    assert await mallory.closed() == b""
    assert await op.line() == "*** Mallory left (banned by Op: guessing passwords)"
    assert await op.line() == "*** banned Mallory for 5 minutes: guessing passwords; 1 removed"
    again = await tls_client(port, ca)
    await again.line()
    again.send("mallory")
    assert await again.line() == "*** error: you are banned: guessing passwords"
    assert await again.closed() == b""


async def test_a_flood_over_tls_is_held_back_like_over_plain(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    """The TLS layer reads ahead into a buffer of its own (256 KiB by default);
    it is bounded by --max-recvq too, so a TLS flood costs what a plain one does
    plus at most one TLS read."""
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0, rate=1, burst=1)
    flood = await tls_join(server.tls_port, ca, "Flood")
    flood.send_raw((b"x" * 100 + b"\n") * 40_000)  # 4 MiB; the kernel buffers take most
    (conn,) = server.connections
    transport: Any = conn._transport  # a TLS transport: it has read-buffer limits
    assert transport.get_read_buffer_limits()[1] == server.config.max_recvq
    paused = asyncio.Event()
    pause_reading = transport.pause_reading

    def pause() -> None:  # reading stops once --max-recvq is waiting
        pause_reading()
        paused.set()

    transport.pause_reading = pause
    if not conn.paused:
        await asyncio.wait_for(paused.wait(), TIMEOUT)
    held = conn.buffered + transport.get_read_buffer_size()
    assert conn.buffered <= server.config.max_recvq
    assert held < 128 * 1024, f"{held} bytes held for one flooding TLS client"


async def raw_tcp(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection that never starts a TLS handshake."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def test_an_address_over_its_limits_is_refused_before_any_tls_work(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    """Per-address limits and bans apply before the handshake: a refused connection
    is closed without a byte of TLS, so refusing costs the server no handshake."""
    server = await start_server(
        tls_cert=pem, tls_key=pem, tls_port=0, exempt="", max_unnamed_per_ip=2
    )
    port = server.tls_port
    waiting = [await raw_tcp(port, "127.0.0.2") for _ in range(2)]
    reader, writer = await raw_tcp(port, "127.0.0.2")
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # closed, nothing sent
    writer.close()
    other = await tls_join(port, ca, "Other")  # another address is not affected
    # A handshake that never finishes gives its place back when the peer goes.
    waiting[0][1].close()
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                client = await asyncio.open_connection(
                    "127.0.0.1",
                    port,
                    ssl=trusting(ca),
                    server_hostname="127.0.0.1",
                    local_addr=("127.0.0.2", 0),
                )
                break
            except ConnectionError:
                continue  # the place is released when the server sees the close
    assert await Client(*client).line() == "*** Welcome to asyncchat! What is your name?"
    await other.quiet()


async def test_a_banned_address_gets_no_tls_handshake(
    start_server: StartServer, ca: trustme.CA, pem: str
) -> None:
    server = await start_server(tls_cert=pem, tls_key=pem, tls_port=0, oper=("Op",))
    op = await tls_join(server.tls_port, ca, "Op")
    op.send("/register op-secret-1")
    assert await op.line() == "*** 'Op' is registered to you"
    op.send("/ban 127.0.0.3 spam")
    assert await op.line() == "*** banned 127.0.0.3: spam"
    reader, writer = await raw_tcp(server.tls_port, "127.0.0.3")
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    with pytest.raises((ConnectionError, ssl.SSLError)):
        await asyncio.open_connection(
            "127.0.0.1",
            server.tls_port,
            ssl=trusting(ca),
            server_hostname="127.0.0.1",
            local_addr=("127.0.0.3", 0),
        )
