"""The SQLite history file: real files in a temporary directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from asyncchat.events import Record
from asyncchat.store import SCHEMA_VERSION, MessageStore, StoreError, default_db_path


def record(room: str, n: int, action: bool = False) -> Record:
    return Record(room, 1_794_913_560.0 + n, f"user{n % 3}", f"line {n}", action)


def test_records_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=100)
    store.start()
    for n in range(5):
        store.put(record("lobby", n))
    store.put(record("games", 99, action=True))
    store.close()
    again = MessageStore(path, keep=100)
    try:
        assert again.recent(3) == [
            record("games", 99, action=True),
            *(record("lobby", n) for n in (2, 3, 4)),
        ]
        assert again.count() == 6
    finally:
        again.close()


def test_a_new_file_gets_the_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "chat.db"
    MessageStore(path, keep=10).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_each_room_is_pruned_to_keep(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "chat.db", keep=5)
    store.start()
    for n in range(23):
        store.put(record("lobby", n))
    store.put(record("games", 1))
    store.close()
    again = MessageStore(tmp_path / "chat.db", keep=5)
    assert again.count("lobby") == 5
    assert again.count("games") == 1
    assert again.recent(10) == [record("games", 1), *(record("lobby", n) for n in range(18, 23))]
    again.close()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"my precious notes, not a database\n" * 100
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not an SQLite database"):
        MessageStore(path, keep=10)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_someone_elses_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    content = path.read_bytes()
    with pytest.raises(StoreError, match="not asyncchat's"):
        MessageStore(path, keep=10)
    assert path.read_bytes() == content


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    MessageStore(path, keep=10).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer asyncchat"):
        MessageStore(path, keep=10)


def test_a_file_in_use_by_another_server_is_refused(tmp_path: Path) -> None:
    first = MessageStore(tmp_path / "chat.db", keep=10)
    try:
        with pytest.raises(StoreError, match="in use by another process"):
            MessageStore(tmp_path / "chat.db", keep=10)
    finally:
        first.close()
    MessageStore(tmp_path / "chat.db", keep=10).close()


def test_the_default_path_follows_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "asyncchat" / "chat.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == Path.home() / ".local" / "share" / "asyncchat" / "chat.db"
