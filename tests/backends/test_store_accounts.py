"""Accounts, bans and mutes in the history file, and the schema 1 -> 2 upgrade.

Real files in a temporary directory; version-1 files are written with raw
sqlite3 from the statements asyncchat 1 used, spelled out here so that a
change to store.py cannot silently change what "version 1" means.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from asyncchat.backends.store import MessageStore, StoreError
from asyncchat.core.accounts import Account
from asyncchat.core.events import Record
from asyncchat.core.moderation import Ban, BanKind, Mute
from asyncchat.core.passwords import hash_password

BIG = 1_000_000
T0 = 1_794_913_560.0

V1_MESSAGES = """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        time REAL NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0
    )"""
V1_INDEX = "CREATE INDEX messages_by_room ON messages (room, id)"
V2_ACCOUNTS = """CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret TEXT NOT NULL,
        created REAL NOT NULL
    )"""
V2_BANS = """CREATE TABLE bans (
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        shown TEXT NOT NULL,
        by TEXT NOT NULL,
        reason TEXT,
        created REAL NOT NULL,
        until REAL,
        PRIMARY KEY (kind, target)
    )"""
V2_MUTES = """CREATE TABLE mutes (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        by TEXT NOT NULL,
        created REAL NOT NULL,
        until REAL
    )"""

# PRAGMA table_info rows without the default value: (cid, name, type, notnull, pk).
ACCOUNTS_COLUMNS = [
    (0, "key", "TEXT", 0, 1),
    (1, "name", "TEXT", 1, 0),
    (2, "secret", "TEXT", 1, 0),
    (3, "created", "REAL", 1, 0),
]
BANS_COLUMNS = [
    (0, "kind", "TEXT", 1, 1),
    (1, "target", "TEXT", 1, 2),
    (2, "shown", "TEXT", 1, 0),
    (3, "by", "TEXT", 1, 0),
    (4, "reason", "TEXT", 0, 0),
    (5, "created", "REAL", 1, 0),
    (6, "until", "REAL", 0, 0),
]
MUTES_COLUMNS = [
    (0, "key", "TEXT", 0, 1),
    (1, "name", "TEXT", 1, 0),
    (2, "by", "TEXT", 1, 0),
    (3, "created", "REAL", 1, 0),
    (4, "until", "REAL", 0, 0),
]


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file in the directory and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def write_v1(path: Path, lines: list[tuple[str, float, str, str, int]], journal: str) -> None:
    """A history file as asyncchat with schema 1 left it."""
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode = {journal}")
    db.execute(V1_MESSAGES)
    db.execute(V1_INDEX)
    db.executemany(
        "INSERT INTO messages (room, time, sender, text, action) VALUES (?, ?, ?, ?, ?)", lines
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def write_v2(path: Path, statements: list[str], version: int = 2, journal: str = "delete") -> None:
    """A file with the v1 messages table, the given other statements and `version`."""
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode = {journal}")
    for statement in (V1_MESSAGES, V1_INDEX, *statements):
        db.execute(statement)
    db.execute(
        "INSERT INTO messages (room, time, sender, text, action) VALUES (?, ?, ?, ?, ?)",
        ("lobby", T0, "alice", "precious", 0),
    )
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def table_info(db: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return [(cid, name, kind, notnull, pk) for cid, name, kind, notnull, _default, pk in rows]


def schema(path: Path) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        db.close()


def account(name: str, key: str, secret: str, created: float = T0) -> Account:
    return Account(name, key, secret, created)


V1_LINES = [
    ("lobby", T0 + 1, "alice", "hello", 0),
    ("games", T0 + 2, "bob", "anyone for chess?", 0),
    ("lobby", T0 + 3, "bob", "waves", 1),
    ("lobby", T0 + 4, "carol", "héllo ☃", 0),
]


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_version_1_file_is_upgraded_in_place_with_its_history(
    tmp_path: Path, journal: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chat.db"
    write_v1(path, V1_LINES, journal)
    with caplog.at_level(logging.INFO, logger="asyncchat.backends.store"):
        store = MessageStore(path, keep=100, max_rows=BIG)
    try:
        assert [r.getMessage() for r in caplog.records] == [f"upgrading {path} from schema 1 to 2"]
        assert store.recent("lobby", 10) == [
            Record("lobby", T0 + 1, "alice", "hello"),
            Record("lobby", T0 + 3, "bob", "waves", True),
            Record("lobby", T0 + 4, "carol", "héllo ☃"),
        ]
        assert store.recent("games", 10) == [Record("games", T0 + 2, "bob", "anyone for chess?")]
        assert store.count() == 4
        assert (store.accounts(), store.bans(), store.mutes()) == ([], [], [])
        # New lines still go after the old ones.
        store.start()
        store.put(Record("lobby", T0 + 5, "dave", "new"))
        store.sync()
        assert [r.text for r in store.recent("lobby", 2)] == ["héllo ☃", "new"]
    finally:
        store.close()

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"messages", "accounts", "bans", "mutes"}
        indexes = db.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        )
        assert [row[0] for row in indexes] == ["messages_by_room"]
        assert table_info(db, "accounts") == ACCOUNTS_COLUMNS
        assert table_info(db, "bans") == BANS_COLUMNS
        assert table_info(db, "mutes") == MUTES_COLUMNS
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 5
    finally:
        db.close()


def test_an_upgraded_file_is_not_upgraded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chat.db"
    write_v1(path, V1_LINES, "wal")
    store = MessageStore(path, keep=100, max_rows=BIG)
    store.save_account(account("Alice", "alice", "$argon2id$fake"))
    store.close()
    upgraded = schema(path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="asyncchat.backends.store"):
        again = MessageStore(path, keep=100, max_rows=BIG)
    try:
        assert not [r for r in caplog.records if "upgrading" in r.getMessage()]
        assert again.accounts() == [account("Alice", "alice", "$argon2id$fake")]
        assert again.count() == 4
    finally:
        again.close()
    assert schema(path) == upgraded
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_a_new_file_has_the_same_tables_as_an_upgraded_one(tmp_path: Path) -> None:
    write_v1(tmp_path / "old.db", [], "wal")
    MessageStore(tmp_path / "old.db", keep=10, max_rows=BIG).close()
    MessageStore(tmp_path / "new.db", keep=10, max_rows=BIG).close()
    assert schema(tmp_path / "new.db") == schema(tmp_path / "old.db")


def test_accounts_round_trip_saved_replaced_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    alice = account("Alice", "alice", "$argon2id$one", T0)
    bob = account("Bob", "bob", "$argon2id$bob", T0 + 1)
    carol = account("Ｃarol", "carol", "$argon2id$carol", T0 + 2)
    store = MessageStore(path, keep=10, max_rows=BIG)
    store.start()
    store.save_account(alice)
    store.save_account(bob)
    store.save_account(carol)
    store.sync()
    assert sorted(store.accounts(), key=lambda a: a.key) == [alice, bob, carol]
    store.close()

    again = MessageStore(path, keep=10, max_rows=BIG)
    assert sorted(again.accounts(), key=lambda a: a.key) == [alice, bob, carol]
    alice_again = account("ALICE", "alice", "$argon2id$two", T0 + 5)
    again.save_account(alice_again)  # the same key: replaced, not added
    again.drop_account("bob")
    again.drop_account("nobody")  # dropping what is not there is harmless
    again.close()  # not started: close writes what is queued

    third = MessageStore(path, keep=10, max_rows=BIG)
    try:
        assert sorted(third.accounts(), key=lambda a: a.key) == [alice_again, carol]
    finally:
        third.close()


def test_changes_are_applied_in_the_order_they_were_made(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = MessageStore(path, keep=10, max_rows=BIG)
    store.start()
    ban = Ban(BanKind.NAME, "mallory", "Mallory", "op", None, T0)
    mute = Mute("eve", "Eve", "op", T0)
    # In one batch: save, drop, save again; drop, then save.
    store.save_account(account("Alice", "alice", "$argon2id$a"))
    store.drop_account("alice")
    store.save_account(account("Alice", "alice", "$argon2id$b"))
    store.save_ban(ban)
    store.drop_ban(ban)
    store.drop_mute("eve")
    store.save_mute(mute)
    store.sync()
    assert store.accounts() == [account("Alice", "alice", "$argon2id$b")]
    assert store.bans() == []
    assert store.mutes() == [mute]
    store.close()


def test_bans_and_mutes_round_trip_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    now = time.time()
    by_name = Ban(BanKind.NAME, "mallory", "Mallory", "op", "spam", now - 30, None)
    by_net = Ban(BanKind.NETWORK, "10.0.0.0/8", "10.0.0.0/8", "op", None, now - 20, now + 3600)
    by_host = Ban(BanKind.NETWORK, "2001:db8::1/128", "2001:db8::1", "root", "x", now - 10)
    eve = Mute("eve", "Eve", "op", now - 5, now + 600)
    trent = Mute("trent", "Trent", "op", now - 4, None)

    store = MessageStore(path, keep=10, max_rows=BIG)
    store.start()
    for ban in (by_host, by_name, by_net):
        store.save_ban(ban)
    store.save_mute(eve)
    store.save_mute(trent)
    store.close()

    again = MessageStore(path, keep=10, max_rows=BIG)
    assert again.bans() == [by_name, by_net, by_host]  # oldest first
    assert sorted(again.mutes(), key=lambda m: m.key) == [eve, trent]
    # The same (kind, target) or key replaces; drop by target or key.
    longer = Ban(BanKind.NAME, "mallory", "MALLORY", "root", "again", now - 1, now + 60)
    again.save_ban(longer)
    again.drop_ban(Ban(BanKind.NETWORK, "10.0.0.0/8", "ignored", "ignored"))
    again.save_mute(Mute("eve", "EVE", "root", now - 2, None))
    again.drop_mute("trent")
    again.close()

    third = MessageStore(path, keep=10, max_rows=BIG)
    try:
        assert third.bans() == [by_host, longer]
        assert third.mutes() == [Mute("eve", "EVE", "root", now - 2, None)]
    finally:
        third.close()


def test_a_name_ban_and_a_network_ban_on_the_same_text_are_two_bans(tmp_path: Path) -> None:
    """The primary key is (kind, target): neither replaces the other."""
    store = MessageStore(tmp_path / "chat.db", keep=10, max_rows=BIG)
    try:
        name = Ban(BanKind.NAME, "x", "x", "op", None, T0)
        net = Ban(BanKind.NETWORK, "x", "x", "op", None, T0 + 1)
        store.save_ban(name)
        store.save_ban(net)
        store.sync()
        assert store.bans() == [name, net]
        store.drop_ban(name)
        store.sync()
        assert store.bans() == [net]
    finally:
        store.close()


def test_expired_bans_and_mutes_are_not_returned_and_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    now = time.time()
    gone = Ban(BanKind.NAME, "old", "old", "op", None, now - 7200, now - 3600)
    just_gone = Ban(BanKind.NETWORK, "192.0.2.0/24", "192.0.2.0/24", "op", None, now - 60, now)
    kept = Ban(BanKind.NAME, "new", "new", "op", None, now - 60, now + 3600)
    forever = Ban(BanKind.NETWORK, "198.51.100.7/32", "198.51.100.7", "op", None, now - 50)
    mute_gone = Mute("quiet", "Quiet", "op", now - 120, now - 1)
    mute_kept = Mute("loud", "Loud", "op", now - 120, now + 60)

    store = MessageStore(path, keep=10, max_rows=BIG)
    for ban in (gone, just_gone, kept, forever):
        store.save_ban(ban)
    store.save_mute(mute_gone)
    store.save_mute(mute_kept)
    store.close()

    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM bans").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM mutes").fetchone()[0] == 2
    db.close()

    again = MessageStore(path, keep=10, max_rows=BIG)
    try:
        assert again.bans() == [kept, forever]
        assert again.mutes() == [mute_kept]
    finally:
        again.close()

    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT target FROM bans ORDER BY target").fetchall() == [
            ("198.51.100.7/32",),
            ("new",),
        ]
        assert db.execute("SELECT key FROM mutes").fetchall() == [("loud",)]
    finally:
        db.close()


def test_the_file_holds_the_hash_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    password = "Tr0ub4dor-and-3-horses"
    secret = hash_password(password)
    store = MessageStore(path, keep=10, max_rows=BIG)
    store.start()
    store.save_account(account("Alice", "alice", secret))
    store.sync()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert password.encode() not in on_disk
    store.close()
    content = path.read_bytes()
    assert secret.encode() in content
    assert password.encode() not in content
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT key, name, secret FROM accounts").fetchall() == [
            ("alice", "Alice", secret)
        ]
    finally:
        db.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize(
    ("statements", "table"),
    [
        (
            [
                "CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT, password TEXT,"
                " created REAL)",
                V2_BANS,
                V2_MUTES,
            ],
            "accounts",
        ),
        (
            [
                V2_ACCOUNTS.replace("created REAL NOT NULL", "created REAL, email TEXT"),
                V2_BANS,
                V2_MUTES,
            ],
            "accounts",
        ),
        ([V2_ACCOUNTS, V2_BANS.replace("until REAL", "until TEXT"), V2_MUTES], "bans"),
        ([V2_ACCOUNTS, V2_BANS], "mutes"),
    ],
)
def test_a_version_2_file_with_other_columns_is_refused_untouched(
    tmp_path: Path, journal: str, statements: list[str], table: str
) -> None:
    path = tmp_path / "chat.db"
    write_v2(path, statements, journal=journal)
    before = fingerprint(tmp_path)
    assert list(before) == ["chat.db"]
    with pytest.raises(StoreError) as refused:
        MessageStore(path, keep=10, max_rows=BIG)
    message = str(refused.value)
    assert f"{path} is an SQLite database but not asyncchat's" in message
    assert f"its {table} table has other columns" in message
    assert fingerprint(tmp_path) == before


def test_a_version_3_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    write_v2(path, [V2_ACCOUNTS, V2_BANS, V2_MUTES, "CREATE TABLE reactions (x TEXT)"], version=3)
    before = fingerprint(tmp_path)
    with pytest.raises(StoreError, match=r"newer asyncchat \(schema 3, this one knows 2\)"):
        MessageStore(path, keep=10, max_rows=BIG)
    assert fingerprint(tmp_path) == before


def test_a_version_1_file_that_already_has_an_accounts_table_is_refused_untouched(
    tmp_path: Path,
) -> None:
    """Not a file asyncchat 1 wrote: the upgrade cannot create its tables."""
    path = tmp_path / "chat.db"
    write_v1(path, V1_LINES, "delete")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (who TEXT)")
    db.commit()
    db.close()
    before = fingerprint(tmp_path)
    with pytest.raises(StoreError):
        MessageStore(path, keep=10, max_rows=BIG)
    assert fingerprint(tmp_path) == before
