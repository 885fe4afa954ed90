import pytest

from asyncchat.backends.store import default_db_path
from asyncchat.cli import build_parser, client_config, main, server_config
from asyncchat.config import ClientConfig, ServerConfig


def test_defaults_match_the_contract() -> None:
    config = server_config(build_parser().parse_args(["serve"]))
    assert config == ServerConfig(db=str(default_db_path()))
    assert (config.history, config.history_keep) == (20, 10_000)
    assert (config.host, config.port, config.max_line) == ("127.0.0.1", 51845, 2048)
    assert (config.max_clients, config.register_timeout) == (10_000, 30.0)
    assert (config.max_sendq, config.rate, config.burst) == (1024 * 1024, 10.0, 20)


def test_every_flag_reaches_the_config() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--max-line",
            "100",
            "--max-clients",
            "5",
            "--register-timeout",
            "2.5",
            "--max-sendq",
            "65536",
            "--rate",
            "0",
            "--burst",
            "3",
            "--db",
            "/tmp/x.db",
            "--history",
            "5",
            "--history-keep",
            "50",
            "--log-level",
            "debug",
        ]
    )
    assert server_config(args) == ServerConfig(
        host="0.0.0.0",
        port=0,
        max_line=100,
        max_clients=5,
        register_timeout=2.5,
        max_sendq=65536,
        rate=0,
        burst=3,
        db="/tmp/x.db",
        history=5,
        history_keep=50,
        log_level="DEBUG",
    )


def test_help_explains_each_flag_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--host", "127.0.0.1"),
        ("--port", "51845"),
        ("--max-line", "2048"),
        ("--max-clients", "10000"),
        ("--register-timeout", "30.0"),
        ("--max-sendq", "1048576"),
        ("--rate", "10.0"),
        ("--burst", "20"),
        ("--history", "20"),
        ("--history-keep", "10000"),
        ("--log-level", "INFO"),
    ]:
        assert flag in text
        assert f"(default: {default})" in text


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--max-clients", "0"], "--max-clients must be at least 1"),
        (["--register-timeout", "0"], "--register-timeout must be more than 0"),
        (["--max-sendq", "10"], "--max-sendq must be at least 4096"),
        (["--rate", "-1"], "--rate must be 0 (off) or more"),
        (["--history", "-1"], "--history must be 0 (none) or more"),
        (["--history-keep", "0"], "--history-keep must be at least 1"),
        (["--max-recvq", "2561"], "--max-recvq must be at least --max-line + 514"),
        (["--exempt", "10.0.0.0/33"], "--exempt: '10.0.0.0/33' is not an address or CIDR"),
        (["--max-per-ip", "0"], "--max-per-ip must be at least 1"),
        (["--history-max-rows", "5"], "--history-max-rows must be at least --history-keep"),
    ],
)
def test_bad_values_are_refused_with_what_to_do(
    flags: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *flags])
    assert exit_.value.code == 2
    assert problem in capsys.readouterr().err


def test_join_flags_reach_the_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    args = build_parser().parse_args(["join", "John"])
    assert client_config(args) == ClientConfig(name="John")
    args = build_parser().parse_args(
        [
            "join",
            "Bot",
            "--host",
            "::1",
            "--port",
            "7",
            "--no-timestamps",
            "--no-color",
            "--no-reconnect",
            "--stay",
        ]
    )
    assert client_config(args) == ClientConfig(
        name="Bot",
        host="::1",
        port=7,
        timestamps=False,
        color=False,
        reconnect=False,
        stay=True,
    )


def test_no_color_in_the_environment_turns_colours_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert not client_config(build_parser().parse_args(["join", "John"])).color
