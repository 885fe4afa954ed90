"""Durable history in SQLite, written by a background thread.

The event loop only ever puts records on a queue. The writer thread wakes on
the first record, gathers for BATCH_WINDOW (50 ms), and writes the batch in
one transaction (WAL, synchronous=NORMAL: a committed batch survives a crash
of the process). So a crash loses at most the last ~100 ms, and a busy room
costs one transaction per window instead of one per line. The file is opened
in exclusive locking mode, so a second server on the same file is refused at
start instead of interleaving.

Records put but not yet committed stay in an in-flight list until their
batch commits; `recent` reads the file and that list under the one lock the
writer holds while it writes, so a line is never missing nor seen twice.

The file keeps at most `keep` lines per room and `max_rows` in all, the
oldest (lowest id) out first. Before anything is written the file is checked
to be new or ours and undamaged; a file that is not is refused unchanged.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from asyncchat.core.accounts import Account
from asyncchat.core.events import Record
from asyncchat.core.moderation import Ban, BanKind, Mute
from asyncchat.core.sanitize import sanitize

SCHEMA_VERSION = 2
log = logging.getLogger(__name__)

_SCHEMA_V1 = (
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        time REAL NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX messages_by_room ON messages (room, id)",
)
_MIGRATE_TO_V2 = (
    """CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE bans (
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        shown TEXT NOT NULL,
        by TEXT NOT NULL,
        reason TEXT,
        created REAL NOT NULL,
        until REAL,
        PRIMARY KEY (kind, target)
    )""",
    """CREATE TABLE mutes (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        by TEXT NOT NULL,
        created REAL NOT NULL,
        until REAL
    )""",
)
_MIGRATIONS = {1: _SCHEMA_V1, 2: _MIGRATE_TO_V2}
"""The statements that bring a file from the version before to this one."""
_TABLES = {
    "messages": (
        ("id", "INTEGER"),
        ("room", "TEXT"),
        ("time", "REAL"),
        ("sender", "TEXT"),
        ("text", "TEXT"),
        ("action", "INTEGER"),
    ),
    "accounts": (("key", "TEXT"), ("name", "TEXT"), ("secret", "TEXT"), ("created", "REAL")),
    "bans": (
        ("kind", "TEXT"),
        ("target", "TEXT"),
        ("shown", "TEXT"),
        ("by", "TEXT"),
        ("reason", "TEXT"),
        ("created", "REAL"),
        ("until", "REAL"),
    ),
    "mutes": (
        ("key", "TEXT"),
        ("name", "TEXT"),
        ("by", "TEXT"),
        ("created", "REAL"),
        ("until", "REAL"),
    ),
}
_TABLES_SINCE = {"messages": 1, "accounts": 2, "bans": 2, "mutes": 2}


ROWS_PER_INSERT = 100
BATCH_WINDOW = 0.05
# Rooms written to since their last pruning, at most; past it all are pruned.
UNPRUNED_ROOMS = 4096
# Deletions per transaction, so the lock `recent` waits for is never held long.
PRUNE_ROOMS_PER_COMMIT = 256
PRUNE_ROWS_PER_COMMIT = 10_000

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


@functools.cache
def _insert(rows: int) -> str:
    return "INSERT INTO messages (room, time, sender, text, action) VALUES " + ", ".join(
        ["(?, ?, ?, ?, ?)"] * rows
    )


class StoreError(Exception):
    """A database the server cannot use; the message says why and what to do."""


def default_db_path() -> Path:
    """`$XDG_DATA_HOME/asyncchat/chat.db`, or the platform's data directory."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "asyncchat" / "chat.db"


class _Stop:
    pass


@dataclass(frozen=True, slots=True)
class _Change:
    """One statement for the writer thread (an account, a ban, a mute), in order."""

    what: str
    sql: str
    params: tuple[object, ...] = field(repr=False)


class _Sync:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = _Stop()
_Item = Record | _Change | _Stop | _Sync


class _Undecodable:
    """Stands for TEXT that is not UTF-8, so one such row is skipped, not the query."""


_UNDECODABLE = _Undecodable()


def _decode(raw: bytes) -> str | _Undecodable:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return _UNDECODABLE


def _readable(room: str, row: Sequence[object]) -> Record | None:
    """The record a row stands for, or None if it cannot be shown as history."""
    when, sender, text, action = row
    if isinstance(when, bool) or not isinstance(when, int | float):
        return None
    if type(action) is not int or action not in (0, 1):
        return None
    if not isinstance(sender, str) or not isinstance(text, str):
        return None
    try:
        # What rendering the line will do; NaN, infinities and far years fail here.
        datetime.fromtimestamp(when, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    sender = sanitize(sender)
    if not sender:
        return None
    return Record(room, float(when), sender, sanitize(text), bool(action))


class MessageStore:
    """One server's history file; construct it to open and check the file."""

    def __init__(self, path: str | os.PathLike[str], keep: int, max_rows: int) -> None:
        """Open and check the file; StoreError says what is wrong and what to do."""
        self.path = Path(path)
        self._keep = keep
        self._max_rows = max_rows
        self._prune_every = max(1, min(100, keep))
        self._queue: queue.SimpleQueue[Record | _Change | _Stop | _Sync] = queue.SimpleQueue()
        # Put but not yet committed, oldest first; only the writer removes, under _lock.
        self._pending: deque[Record] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        # Writer state: lines in the file, and lines per room since its last pruning.
        self._unpruned: Counter[str] = Counter()
        self._db, self._total = self._open()

    def _open(self) -> tuple[sqlite3.Connection, int]:
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(where, timeout=0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as problem:
            raise StoreError(f"cannot open {where}: {problem}") from None
        db.text_factory = _decode
        try:
            # Only reads until the file is known to be ours and sound.
            self._identify(db)
            self._quick_check(db)
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            version = 0 if self._identify(db) else db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                self._migrate(db, version)
            total = int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
            db.execute("COMMIT")
        except StoreError:
            db.close()
            raise
        except MemoryError:
            db.close()
            raise self._damaged("SQLite ran out of memory reading it") from None
        except sqlite3.Error as problem:
            db.close()
            raise self._explain(problem) from None
        return db, total

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        """Bring the file from `version` (0: new) to SCHEMA_VERSION, in the open transaction."""
        if version:
            log.info("upgrading %s from schema %d to %d", self.path, version, SCHEMA_VERSION)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _identify(self, db: sqlite3.Connection) -> bool:
        """True for an empty (new) database, False for ours; else StoreError."""
        where = str(self.path)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        objects = db.execute("SELECT type, name FROM sqlite_master").fetchall()
        if version == 0 and not objects:
            return True
        if ("table", "messages") not in objects:
            raise self._foreign("it has no messages table")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{where} was written by a newer asyncchat (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade asyncchat or use another --db"
            )
        if version < 1:
            raise self._foreign("it has a messages table but no asyncchat schema version")
        for table, since in _TABLES_SINCE.items():
            if version < since and ("table", table) in objects:
                raise self._foreign(f"it has a {table} table, unknown to its schema {version}")
        for table, since in _TABLES_SINCE.items():
            if version < since:
                continue
            columns = tuple(
                (str(row[1]).lower(), str(row[2]).upper())
                for row in db.execute(f"PRAGMA table_info({table})")
            )
            if columns != _TABLES[table]:
                raise self._foreign(f"its {table} table has other columns")
        return False

    def _quick_check(self, db: sqlite3.Connection) -> None:
        answer = str(db.execute("PRAGMA quick_check(1)").fetchone()[0])
        if answer != "ok":
            lines = [line for line in answer.splitlines() if not line.startswith("***")]
            raise self._damaged(f"quick_check: {'; '.join(lines[:1]) or answer}")

    def _foreign(self, why: str) -> StoreError:
        return StoreError(
            f"{self.path} is an SQLite database but not asyncchat's ({why}); give another --db path"
        )

    def _damaged(self, why: str) -> StoreError:
        return StoreError(
            f"{self.path} is damaged ({why}); restore it from a backup, "
            "or move it away to start a new history"
        )

    def _explain(self, problem: sqlite3.Error) -> StoreError:
        where = str(self.path)
        code = getattr(problem, "sqlite_errorcode", 0) & 0xFF
        if "locked" in str(problem) or "busy" in str(problem):
            return StoreError(
                f"{where} is in use by another process (another asyncchat server?); "
                "stop it or give this one another --db"
            )
        if code == _SQLITE_CORRUPT:
            return self._damaged(str(problem))
        if isinstance(problem, sqlite3.OperationalError) and code != _SQLITE_NOTADB:
            return StoreError(f"cannot use {where}: {problem}")
        return StoreError(f"{where} is not an SQLite database ({problem}); give another --db path")

    def recent(self, room: str, limit: int) -> list[Record]:
        """The room's last `limit` records, oldest first, those not yet written included.

        Called on the event loop when a room's history is not cached. It waits
        at most for the batch being committed; it never raises for the file's
        sake, so a bad row or a failing disk never stops a join.
        """
        if limit <= 0:
            return []
        rows: list[tuple[object, ...]] = []
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT time, sender, text, action FROM messages "
                    "WHERE room = ? ORDER BY id DESC LIMIT ?",
                    (room, limit),
                ).fetchall()
            except sqlite3.Error as problem:
                log.error("could not read the history of %r: %s", room, problem)
            unwritten = [record for record in self._pending if record.room == room]
        records: list[Record] = []
        for row in reversed(rows):
            record = _readable(room, row)
            if record is not None:
                records.append(record)
        if skipped := len(rows) - len(records):
            log.warning("skipped %d unreadable history rows of room %r", skipped, room)
        records += unwritten
        return records[-limit:]

    def count(self, room: str | None = None) -> int:
        """Lines in the file now (not those still in flight)."""
        with self._lock:
            if room is None:
                return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
            query = "SELECT count(*) FROM messages WHERE room = ?"
            return int(self._db.execute(query, (room,)).fetchone()[0])

    def accounts(self) -> list[Account]:
        """Every account in the file (read at start, before the writer runs)."""
        with self._lock:
            rows = self._db.execute("SELECT key, name, secret, created FROM accounts").fetchall()
        found = []
        for key, name, secret, created in rows:
            if all(isinstance(v, str) for v in (key, name, secret)):
                found.append(Account(name, key, secret, float(created or 0)))
            else:
                log.warning("skipped an unreadable account row")
        return found

    def bans(self) -> list[Ban]:
        """Bans still in force; expired ones are deleted."""
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM bans WHERE until IS NOT NULL AND until <= ?", (now,))
            rows = self._db.execute(
                "SELECT kind, target, shown, by, reason, created, until FROM bans ORDER BY created"
            ).fetchall()
        found = []
        for kind, target, shown, by, reason, created, until in rows:
            try:
                found.append(Ban(BanKind(kind), target, shown, by, reason, float(created), until))
            except (ValueError, TypeError):
                log.warning("skipped an unreadable ban row")
        return found

    def mutes(self) -> list[Mute]:
        """Mutes still in force; expired ones are deleted."""
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM mutes WHERE until IS NOT NULL AND until <= ?", (now,))
            rows = self._db.execute("SELECT key, name, by, created, until FROM mutes").fetchall()
        return [
            Mute(key, name, by, float(created), until) for key, name, by, created, until in rows
        ]

    def save_account(self, account: Account) -> None:
        self._change(
            "account",
            "INSERT OR REPLACE INTO accounts (key, name, secret, created) VALUES (?, ?, ?, ?)",
            (account.key, account.name, account.secret, account.created),
        )

    def drop_account(self, key: str) -> None:
        self._change("account", "DELETE FROM accounts WHERE key = ?", (key,))

    def save_ban(self, ban: Ban) -> None:
        self._change(
            "ban",
            "INSERT OR REPLACE INTO bans (kind, target, shown, by, reason, created, until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ban.kind.value, ban.target, ban.shown, ban.by, ban.reason, ban.created, ban.until),
        )

    def drop_ban(self, ban: Ban) -> None:
        self._change(
            "ban", "DELETE FROM bans WHERE kind = ? AND target = ?", (ban.kind.value, ban.target)
        )

    def save_mute(self, mute: Mute) -> None:
        self._change(
            "mute",
            "INSERT OR REPLACE INTO mutes (key, name, by, created, until) VALUES (?, ?, ?, ?, ?)",
            (mute.key, mute.name, mute.by, mute.created, mute.until),
        )

    def drop_mute(self, key: str) -> None:
        self._change("mute", "DELETE FROM mutes WHERE key = ?", (key,))

    def _change(self, what: str, sql: str, params: tuple[object, ...]) -> None:
        """Queue a statement for the writer; never blocks."""
        self._queue.put(_Change(what, sql, params))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_loop, name="history", daemon=True)
        self._thread.start()

    def put(self, record: Record) -> None:
        """Queue a record for writing; never blocks."""
        self._pending.append(record)
        self._queue.put(record)

    def sync(self) -> None:
        """Block until everything put so far is written and pruned."""
        if self._thread is None:
            if not self._closed:
                self._handle(self._take([]))
            return
        marker = _Sync()
        self._queue.put(marker)
        marker.done.wait()

    def close(self) -> None:
        """Write everything queued so far, then close the file."""
        if self._closed:
            return
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        else:
            self._handle(self._take([]))
        self._closed = True
        self._db.close()

    def _take(self, batch: list[_Item]) -> list[_Item]:
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch

    def _write_loop(self) -> None:
        self._settle(flush=False)  # a file over --history-max-rows shrinks at once
        while True:
            first = self._queue.get()
            if isinstance(first, Record):
                time.sleep(BATCH_WINDOW)
            if self._handle(self._take([first])):
                return

    def _handle(self, batch: list[_Item]) -> bool:
        """Write and prune one batch; True if it asks the writer to stop."""
        records = [item for item in batch if isinstance(item, Record)]
        changes = [item for item in batch if isinstance(item, _Change)]
        markers = [item for item in batch if isinstance(item, _Stop | _Sync)]
        try:
            if records:
                self._write(records)
            if changes:
                self._apply(changes)
            self._settle(flush=bool(markers))
        except Exception:
            log.exception("the history writer failed")
        finally:
            for marker in markers:
                if isinstance(marker, _Sync):
                    marker.done.set()
        return any(isinstance(marker, _Stop) for marker in markers)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN ... COMMIT, rolled back on any error; the caller holds the lock."""
        self._db.execute("BEGIN")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _write(self, records: list[Record]) -> None:
        # Many rows per statement: the GIL is given up once per statement, not
        # once per row, so the writer hardly slows the event loop down.
        with self._lock:
            try:
                with self._transaction() as db:
                    for start in range(0, len(records), ROWS_PER_INSERT):
                        chunk = records[start : start + ROWS_PER_INSERT]
                        values: list[object] = []
                        for r in chunk:
                            values += (r.room, r.time, r.sender, r.text, int(r.action))
                        db.execute(_insert(len(chunk)), values)
            except sqlite3.Error as problem:
                log.error("could not store %d history lines: %s", len(records), problem)
                return
            finally:
                # Committed (or given up): no longer in flight. Still under the
                # lock, so `recent` never sees them in both places or in neither.
                for _ in records:
                    self._pending.popleft()
        self._total += len(records)
        self._unpruned.update(record.room for record in records)

    def _apply(self, changes: list[_Change]) -> None:
        """Accounts, bans and mutes, in the order they happened, in one transaction."""
        with self._lock:
            try:
                with self._transaction() as db:
                    for change in changes:
                        db.execute(change.sql, change.params)
            except sqlite3.Error as problem:
                what = ", ".join(sorted({change.what for change in changes}))
                log.error("could not store %d changes (%s): %s", len(changes), what, problem)

    def _settle(self, flush: bool) -> None:
        """Prune rooms past `keep` and the file past `max_rows`, oldest lines first."""
        if flush or len(self._unpruned) > UNPRUNED_ROOMS:
            due = list(self._unpruned)
            self._unpruned.clear()
        else:
            due = [room for room, n in self._unpruned.items() if n >= self._prune_every]
            for room in due:
                del self._unpruned[room]
        try:
            for start in range(0, len(due), PRUNE_ROOMS_PER_COMMIT):
                with self._lock, self._transaction() as db:
                    removed = 0
                    for room in due[start : start + PRUNE_ROOMS_PER_COMMIT]:
                        removed += db.execute(
                            "DELETE FROM messages WHERE room = ? AND id <= ("
                            "SELECT id FROM messages WHERE room = ? "
                            "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                            (room, room, self._keep),
                        ).rowcount
                self._total -= removed
            while (over := self._total - max(0, self._max_rows)) > 0:
                with self._lock, self._transaction() as db:
                    removed = db.execute(
                        "DELETE FROM messages WHERE id IN ("
                        "SELECT id FROM messages ORDER BY id LIMIT ?)",
                        (min(over, PRUNE_ROWS_PER_COMMIT),),
                    ).rowcount
                self._total -= removed
                if removed == 0:
                    self._total = self.count()
                    break
        except sqlite3.Error as problem:
            log.error("could not prune the history file: %s", problem)
