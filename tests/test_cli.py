import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from asyncchat.backends.store import default_db_path
from asyncchat.cli import build_parser, client_config, main, parse_args, server_config
from asyncchat.config import ClientConfig, ServerConfig

EXAMPLE = Path(__file__).parent.parent / "docs" / "asyncchat.example.toml"
EXAMPLE_DB = "/var/lib/asyncchat/chat.db"


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
        (["--rate", "nan"], "--rate must be a finite number"),
        (["--register-timeout", "inf"], "--register-timeout must be a finite number"),
        (
            ["--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "7000", "--tls-port", "7000"],
            "--tls-port must differ from --port",
        ),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--no-plain"], "--no-plain needs --tls-cert and --tls-key"),
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


def config_from(tmp_path: Path, text: str, *flags: str) -> ServerConfig:
    path = tmp_path / "asyncchat.toml"
    path.write_text(text, encoding="utf-8")
    return server_config(parse_args(build_parser(), ["serve", "--config", str(path), *flags]))


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a refused command line, after checking it exits 2 cleanly."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()[-1]


def test_config_file_values_reach_the_config(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        """
        host = "0.0.0.0"
        max-line = 4096
        register-timeout = 2.5
        rate = 5
        exempt = "127.0.0.0/8"
        db = "/var/lib/asyncchat/chat.db"
        log-level = "debug"
        """,
    )
    assert config == ServerConfig(
        host="0.0.0.0",
        max_line=4096,
        register_timeout=2.5,
        rate=5.0,
        exempt="127.0.0.0/8",
        db="/var/lib/asyncchat/chat.db",
        log_level="DEBUG",
    )
    assert isinstance(config.rate, float)


@pytest.mark.parametrize("key", ["max-line", "max_line"])
def test_keys_may_be_flag_or_field_names(key: str, tmp_path: Path) -> None:
    assert config_from(tmp_path, f"{key} = 4096").max_line == 4096


@pytest.mark.parametrize(
    "flags",
    [["--max-line", "100", "--exempt", ""], ["--max-line=100", "--exempt="]],
)
def test_flags_win_over_the_file(flags: list[str], tmp_path: Path) -> None:
    config = config_from(tmp_path, 'max-line = 4096\nrate = 5\nexempt = "10.0.0.0/8"', *flags)
    assert (config.max_line, config.exempt, config.rate) == (100, "", 5.0)
    path = tmp_path / "asyncchat.toml"
    args = parse_args(build_parser(), ["serve", "--max-line", "100", "--config", str(path)])
    assert server_config(args).max_line == 100


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("max-lines = 4096", "unknown setting 'max-lines' (did you mean 'max-line'?)"),
        ("max_lines = 4096", "unknown setting 'max_lines' (did you mean 'max_line'?)"),
        ("colour = true", "unknown setting 'colour' (see asyncchat serve --help)"),
        ("[daemon]\nport = 1", "unknown setting 'daemon' (see asyncchat serve --help)"),
        ('port = "80"', "'port' must be an integer, not the string '80'"),
        ("port = true", "'port' must be an integer, not the boolean true"),
        ("port = 80.0", "'port' must be an integer, not the float 80.0"),
        ("rate = false", "'rate' must be a number, not the boolean false"),
        ('rate = "5"', "'rate' must be a number, not the string '5'"),
        ("host = 1", "'host' must be a string, not the integer 1"),
        ('exempt = ["127.0.0.0/8"]', "'exempt' must be a string, not an array"),
        ("db = 1979-05-27", "'db' must be a string, not a date"),
        (
            'log-level = "verbose"',
            "'log-level' must be one of DEBUG, INFO, WARNING, ERROR, not 'verbose'",
        ),
        ('config = "other.toml"', "'config' cannot be set inside a config file"),
        (
            "max-line = 4096\nmax_line = 4096",
            "'max-line' and 'max_line' are the same setting; keep one",
        ),
    ],
)
def test_bad_config_files_are_refused_naming_the_key(
    text: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "asyncchat.toml"
    path.write_text(text, encoding="utf-8")
    line = refusal(["serve", "--config", str(path)], capsys)
    assert line == f"asyncchat serve: error: --config {path}: {problem}"


def test_invalid_toml_is_refused_with_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "asyncchat.toml"
    path.write_text("port = 1\nmax-line = = 3\n", encoding="utf-8")
    assert refusal(["serve", "--config", str(path)], capsys) == (
        f"asyncchat serve: error: --config {path} is not valid TOML: "
        "Invalid value (at line 2, column 12)"
    )
    path.write_bytes(b"port = 1\n\xff")
    assert refusal(["serve", "--config", str(path)], capsys) == (
        f"asyncchat serve: error: --config {path} is not UTF-8 (byte 9)"
    )


def test_a_missing_or_unreadable_config_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.toml"
    assert refusal(["serve", "--config", str(missing)], capsys) == (
        f"asyncchat serve: error: cannot read --config {missing}: No such file or directory"
    )
    line = refusal(["serve", "--config", str(tmp_path)], capsys)
    assert line.startswith(f"asyncchat serve: error: cannot read --config {tmp_path}: ")


def test_file_values_get_the_same_range_checks_as_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "asyncchat.toml"
    path.write_text('max-line = 10\nexempt = "10.0.0.0/33"', encoding="utf-8")
    line = refusal(["serve", "--config", str(path)], capsys)
    assert "--max-line must be at least 64 bytes" in line
    assert "--exempt: '10.0.0.0/33' is not an address or CIDR" in line


def test_help_shows_the_config_flag_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    lines = capsys.readouterr().out.splitlines()
    (line,) = [" ".join(line.split()) for line in lines if "--config FILE " in line]
    assert line == "--config FILE read settings from a TOML file; flags win over it"


def test_the_example_config_file_loads_to_the_defaults(tmp_path: Path) -> None:
    args = parse_args(build_parser(), ["serve", "--config", str(EXAMPLE)])
    assert server_config(args) == ServerConfig(db=str(default_db_path()))
    uncommented = re.sub(r"^# ([a-z-]+ = )", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE)
    assert config_from(tmp_path, uncommented) == ServerConfig(db=EXAMPLE_DB)


def test_the_example_config_file_has_every_setting_with_its_default_and_help() -> None:
    blocks = EXAMPLE.read_text(encoding="utf-8").split("\n\n")[1:]
    settings = {f.name.replace("_", "-"): f for f in dataclasses.fields(ServerConfig)}
    assert [re.findall(r"^# ([a-z-]+) = ", block, re.MULTILINE) for block in blocks] == [
        [key] for key in settings
    ]
    for block, (key, setting) in zip(blocks, settings.items(), strict=True):
        lines = block.strip().splitlines()
        assert all(line.startswith("# ") for line in lines)
        comment = " ".join(line[2:] for line in lines[:-1])
        assert " ".join(setting.metadata["help"].split()) in comment
        for choice in setting.metadata.get("choices", []):
            assert choice in comment
        value = tomllib.loads(lines[-1][2:])[key]
        if key == "db":
            assert "default: $XDG_DATA_HOME/asyncchat/chat.db" in comment
            assert value == EXAMPLE_DB
        else:
            value = tuple(value) if isinstance(value, list) else value
            assert (type(value), value) == (type(setting.default), setting.default)


def test_switches_do_not_show_a_misleading_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["join", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: True)" not in text
    assert "(default: False)" not in text
    assert "--port PORT server port (default: 51845, with --tls 51846)" in text
    assert "(default: None)" not in text


@pytest.mark.parametrize("command", [["join", "Bob"], ["serve"]])
def test_a_wrong_flag_prints_the_subcommands_usage(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--colour"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: asyncchat {command[0]} ")
    assert "unrecognized arguments: --colour" in err


def test_oper_is_repeatable_from_flags_and_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse_args(build_parser(), ["serve", "--oper", "Op", "--oper", "Root"])
    assert server_config(args).oper == ("Op", "Root")
    assert config_from(tmp_path, 'oper = ["Op"]').oper == ("Op",)
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(repeatable) (default: [])" not in text
