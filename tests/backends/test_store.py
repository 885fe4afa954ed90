"""The SQLite history file: real files in a temporary directory."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest

from asyncchat.backends import store as store_module
from asyncchat.backends.store import SCHEMA_VERSION, MessageStore, StoreError, default_db_path
from asyncchat.core.events import Record

BIG = 1_000_000


def record(room: str, n: int, action: bool = False) -> Record:
    return Record(room, 1_794_913_560.0 + n, f"user{n % 3}", f"line {n}", action)


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file in the directory and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_records_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=100, max_rows=BIG)
    store.start()
    for n in range(5):
        store.put(record("lobby", n))
    store.put(record("games", 99, action=True))
    store.close()
    again = MessageStore(path, keep=100, max_rows=BIG)
    try:
        assert again.recent("games", 3) == [record("games", 99, action=True)]
        assert again.recent("lobby", 3) == [record("lobby", n) for n in (2, 3, 4)]
        assert again.recent("nowhere", 3) == []
        assert again.recent("lobby", 0) == []
        assert again.count() == 6
    finally:
        again.close()


def test_a_new_file_gets_the_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "chat.db"
    MessageStore(path, keep=10, max_rows=BIG).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_each_room_is_pruned_to_keep(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "chat.db", keep=5, max_rows=BIG)
    store.start()
    for n in range(23):
        store.put(record("lobby", n))
    store.put(record("games", 1))
    store.close()
    again = MessageStore(tmp_path / "chat.db", keep=5, max_rows=BIG)
    assert again.count("lobby") == 5
    assert again.count("games") == 1
    assert again.recent("lobby", 10) == [record("lobby", n) for n in range(18, 23)]
    assert again.recent("games", 10) == [record("games", 1)]
    again.close()


def test_sync_writes_and_prunes_everything_put_so_far(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "chat.db", keep=5, max_rows=BIG)
    try:
        store.put(record("lobby", 0))
        store.sync()  # not started yet: done on this thread
        assert store.count() == 1
        store.start()
        for n in range(1, 23):
            store.put(record("lobby", n))
        store.sync()
        assert store.count("lobby") == 5
        assert store.recent("lobby", 10) == [record("lobby", n) for n in range(18, 23)]
        assert store._total == store.count()
    finally:
        store.close()


def test_lines_not_yet_written_are_seen_once(tmp_path: Path) -> None:
    """recent() reads the file and the lines in flight while the writer commits."""
    store = MessageStore(tmp_path / "chat.db", keep=BIG, max_rows=BIG)
    store.start()
    said: list[Record] = []
    states: set[str] = set()
    try:
        for n in range(20_000):
            said.append(record("lobby", n))
            store.put(said[-1])
            if n % 2:
                store.put(record("games", n))
            assert store.recent("lobby", 30) == said[-30:]
            if n % 250 == 0:
                assert store.recent("lobby", BIG) == said
                written = store.count("lobby")
                states.add("all in flight" if written == 0 else "part written")
            if n >= 2000 and "part written" in states:
                break
        assert "part written" in states, "the writer never committed while we read"
        store.sync()
        assert store.recent("lobby", BIG) == said
        assert store.count("lobby") == len(said)
    finally:
        store.close()


def test_the_file_keeps_at_most_max_rows_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=10, max_rows=100)
    store.start()
    said = [record(f"room{room}", line) for line in range(3) for room in range(300)]
    for line in said:
        store.put(line)
    store.sync()
    assert store.count() == 100
    assert store._total == 100
    assert store.recent("room299", 10) == [record("room299", 2)]
    assert store.recent("room199", 10) == []
    store.close()
    db = sqlite3.connect(path)
    rows = db.execute("SELECT room, text FROM messages ORDER BY id").fetchall()
    db.close()
    assert rows == [(r.room, r.text) for r in said[-100:]]


def test_a_file_over_max_rows_shrinks_when_the_writer_starts(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=100, max_rows=BIG)
    store.start()
    for n in range(50):
        store.put(record("lobby", n))
    store.close()
    smaller = MessageStore(path, keep=100, max_rows=20)
    try:
        smaller.start()
        smaller.sync()
        assert smaller.count() == 20
        assert smaller.recent("lobby", 100) == [record("lobby", n) for n in range(30, 50)]
    finally:
        smaller.close()


def test_rooms_waiting_to_be_pruned_stay_bounded(tmp_path: Path) -> None:
    """Past UNPRUNED_ROOMS rooms written to, all are pruned and forgotten."""
    store = MessageStore(tmp_path / "chat.db", keep=5, max_rows=BIG)
    try:
        for n in range(9):  # 5 are pruned at once, 4 wait for more lines
            store.put(record("lobby", n))
            store._handle(store._take([]))
        assert (store.count("lobby"), store._unpruned["lobby"]) == (9, 4)
        most = 0
        bound = store_module.UNPRUNED_ROOMS
        batches = range(0, bound + 500, 500)
        for batch in batches:
            for n in range(batch, batch + 500):
                store.put(record(f"room{n}", n))
            store._handle(store._take([]))
            most = max(most, len(store._unpruned))
        assert most <= bound
        assert store.count("lobby") == 5
        assert store._total == store.count() == 5 + 500 * len(batches)
    finally:
        store.close()


def test_unreadable_rows_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file edited by hand: our columns without NOT NULL, and rows of every bad kind."""
    path = tmp_path / "chat.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT, time REAL,
                               sender TEXT, text TEXT, action INTEGER);
        CREATE INDEX messages_by_room ON messages (room, id);
        PRAGMA user_version = 1;
        """
    )
    good = "('lobby', 1794913560.0 + {n}, 'user{n}', 'line {n}', 0)"
    bad = [
        "('lobby', 'yesterday', 'eve', 'text as time', 0)",
        "('lobby', NULL, 'eve', 'no time', 0)",
        "('lobby', x'0102', 'eve', 'blob time', 0)",
        "('lobby', 1e300, 'eve', 'time out of range', 0)",
        "('lobby', 9e999, 'eve', 'infinite time', 0)",
        "('lobby', 1794913560.0, NULL, 'no sender', 0)",
        "('lobby', 1794913560.0, x'00ff', 'blob sender', 0)",
        "('lobby', 1794913560.0, '\x1b[2J', 'sender only an escape', 0)",
        "('lobby', 1794913560.0, 'eve', NULL, 0)",
        "('lobby', 1794913560.0, 'eve', x'c3', 0)",
        "('lobby', 1794913560.0, 'eve', CAST(x'ff41' AS TEXT), 0)",
        "('lobby', 1794913560.0, 'eve', 'action as text', 'yes')",
        "('lobby', 1794913560.0, 'eve', 'action 2', 2)",
        "('lobby', 1794913560.0, 'eve', 'action NULL', NULL)",
        "('lobby', 1794913560.0, 'eve', 'action 0.5', 0.5)",
    ]
    rows = [good.format(n=0), *bad[:8], good.format(n=1), *bad[8:], good.format(n=2)]
    for row in rows:
        db.execute(f"INSERT INTO messages (room, time, sender, text, action) VALUES {row}")
    db.execute(
        "INSERT INTO messages (room, time, sender, text, action) VALUES (?, ?, ?, ?, ?)",
        ("lobby", 1794913563, "mallory\u202e", "\x1b[2Jcleared\x07 screen", 1),
    )
    db.execute("INSERT INTO messages (room, time, sender, text) VALUES ('games', 'x', 'a', 'b')")
    db.commit()
    db.close()

    store = MessageStore(path, keep=100, max_rows=BIG)
    try:
        with caplog.at_level(logging.WARNING, logger="asyncchat.backends.store"):
            lines = store.recent("lobby", 100)
        assert lines == [
            *(Record("lobby", 1794913560.0 + n, f"user{n}", f"line {n}") for n in range(3)),
            Record("lobby", 1794913563.0, "mallory", "cleared screen", True),
        ]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == [f"skipped {len(bad)} unreadable history rows of room 'lobby'"]
        caplog.clear()
        assert store.recent("games", 100) == []
        assert [r.getMessage() for r in caplog.records] == [
            "skipped 1 unreadable history rows of room 'games'"
        ]
    finally:
        store.close()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"my precious notes, not a database\n" * 100
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not an SQLite database"):
        MessageStore(path, keep=10, max_rows=BIG)
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
        MessageStore(path, keep=10, max_rows=BIG)
    assert path.read_bytes() == content


OURS = (
    "id INTEGER PRIMARY KEY, room TEXT NOT NULL, time REAL NOT NULL, "
    "sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL DEFAULT 0"
)


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize(
    ("schema", "version", "why"),
    [
        ("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)", 1, "has other columns"),
        (f"CREATE TABLE messages ({OURS.replace('time REAL', 'time TEXT')})", 1, "other columns"),
        (f"CREATE TABLE messages ({OURS}, extra TEXT)", 1, "other columns"),
        ("CREATE TABLE notes (body TEXT)", 1, "no messages table"),
        ("CREATE VIEW messages AS SELECT 1 AS id", 1, "no messages table"),
        (f"CREATE TABLE messages ({OURS})", 0, "no asyncchat schema version"),
    ],
)
def test_a_database_with_another_schema_is_refused_untouched(
    tmp_path: Path, journal: str, schema: str, version: int, why: str
) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode = {journal}")
    db.execute(schema)
    db.execute("CREATE TABLE other (x)")
    db.execute("INSERT INTO other VALUES ('precious')")
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    before = fingerprint(tmp_path)
    assert list(before) == ["app.db"]
    with pytest.raises(StoreError) as refused:
        MessageStore(path, keep=10, max_rows=BIG)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{path} is an SQLite database but not asyncchat's" in message
    assert why in message
    assert message.endswith("give another --db path")
    assert fingerprint(tmp_path) == before


def test_a_database_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    MessageStore(path, keep=10, max_rows=BIG).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = fingerprint(tmp_path)
    assert list(before) == ["chat.db"]
    with pytest.raises(StoreError, match="newer asyncchat"):
        MessageStore(path, keep=10, max_rows=BIG)
    assert fingerprint(tmp_path) == before


def damage(path: Path) -> None:
    """Overwrite the cell pointers of the first full table leaf page with 0xFF:
    every cell then points past the end of its page."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for start in range(page_size, len(data), page_size):
        page = data[start : start + page_size]
        cells = int.from_bytes(page[3:5], "big")
        if page[0] == 0x0D and cells >= 8:
            middle = start + 8 + cells  # the middle of the pointer array
            data[middle - 8 : middle + 8] = b"\xff" * 16
            path.write_bytes(bytes(data))
            return
    raise AssertionError("no table leaf page to damage")


def test_a_damaged_schema_page_is_refused_untouched(tmp_path: Path) -> None:
    """SQLite cannot even read the list of tables: the same advice."""
    path = tmp_path / "chat.db"
    MessageStore(path, keep=10, max_rows=BIG).close()
    data = bytearray(path.read_bytes())
    data[100:116] = b"\xff" * 16  # page 1's b-tree header, just after the file header
    path.write_bytes(bytes(data))
    before = fingerprint(tmp_path)
    with pytest.raises(StoreError) as refused:
        MessageStore(path, keep=10, max_rows=BIG)
    assert str(refused.value) == (
        f"{path} is damaged (database disk image is malformed); restore it from a backup, "
        "or move it away to start a new history"
    )
    assert fingerprint(tmp_path) == before


def test_a_damaged_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=BIG, max_rows=BIG)
    store.start()
    for n in range(3000):
        store.put(record(f"room{n % 7}", n))
    store.close()
    damage(path)
    before = fingerprint(tmp_path)
    assert list(before) == ["chat.db"]
    with pytest.raises(StoreError) as refused:
        MessageStore(path, keep=BIG, max_rows=BIG)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{path} is damaged (quick_check: ")
    assert "out of range" in message
    assert message.endswith("restore it from a backup, or move it away to start a new history")
    assert fingerprint(tmp_path) == before


def test_a_file_in_use_by_another_server_is_refused(tmp_path: Path) -> None:
    first = MessageStore(tmp_path / "chat.db", keep=10, max_rows=BIG)
    try:
        with pytest.raises(StoreError, match="in use by another process"):
            MessageStore(tmp_path / "chat.db", keep=10, max_rows=BIG)
    finally:
        first.close()
    MessageStore(tmp_path / "chat.db", keep=10, max_rows=BIG).close()


def test_the_default_path_follows_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "asyncchat" / "chat.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == Path.home() / ".local" / "share" / "asyncchat" / "chat.db"
