"""Durable history in SQLite, written by a background thread.

The event loop only ever puts records on a queue. The writer thread wakes on
the first record, gathers for BATCH_WINDOW (50 ms), and writes the batch in
one transaction (WAL, synchronous=NORMAL: a committed batch survives a crash
of the process). So a crash loses at most the last ~100 ms, and a busy room
costs one transaction per window instead of one per line. The file is opened
in exclusive locking mode, so a second server on the same file is refused at
start instead of interleaving.
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
from collections import Counter
from pathlib import Path

from .events import Record

SCHEMA_VERSION = 1
log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        time REAL NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX messages_by_room ON messages (room, id)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


ROWS_PER_INSERT = 100
BATCH_WINDOW = 0.05


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


_STOP = _Stop()


class MessageStore:
    """One server's history file; construct it to open and check the file."""

    def __init__(self, path: str | os.PathLike[str], keep: int) -> None:
        self.path = Path(path)
        self._keep = keep
        self._prune_every = max(1, min(100, keep))
        self._queue: queue.SimpleQueue[Record | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(where, timeout=0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as problem:
            raise StoreError(f"cannot open {where}: {problem}") from None
        try:
            self._check(db)
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA:
                    db.execute(statement)
            db.execute("COMMIT")
        except sqlite3.OperationalError as problem:
            db.close()
            if "locked" in str(problem) or "busy" in str(problem):
                raise StoreError(
                    f"{where} is in use by another process (another asyncchat server?); "
                    "stop it or give this one another --db"
                ) from None
            raise StoreError(f"cannot use {where}: {problem}") from None
        except sqlite3.DatabaseError as problem:
            db.close()
            raise StoreError(
                f"{where} is not an SQLite database ({problem}); give another --db path"
            ) from None
        except StoreError:
            db.close()
            raise
        return db

    def _check(self, db: sqlite3.Connection) -> None:
        """Refuse, before writing anything, a file that is not our kind of database."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        where = str(self.path)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{where} was written by a newer asyncchat (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade asyncchat or use another --db"
            )
        if (version == 0 and tables) or (version > 0 and "messages" not in tables):
            raise StoreError(
                f"{where} is an SQLite database but not asyncchat's; give another --db path"
            )

    def recent(self, per_room: int) -> list[Record]:
        """The last `per_room` records of every room, oldest first within each room."""
        if per_room <= 0:
            return []
        rooms = [r[0] for r in self._db.execute("SELECT DISTINCT room FROM messages ORDER BY room")]
        records: list[Record] = []
        for room in rooms:
            rows = self._db.execute(
                "SELECT room, time, sender, text, action FROM messages "
                "WHERE room = ? ORDER BY id DESC LIMIT ?",
                (room, per_room),
            ).fetchall()
            records += (Record(r[0], r[1], r[2], r[3], bool(r[4])) for r in reversed(rows))
        return records

    def count(self, room: str | None = None) -> int:
        if room is None:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        query = "SELECT count(*) FROM messages WHERE room = ?"
        return int(self._db.execute(query, (room,)).fetchone()[0])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_loop, name="history", daemon=True)
        self._thread.start()

    def put(self, record: Record) -> None:
        """Queue a record for writing; never blocks."""
        self._queue.put(record)

    def close(self) -> None:
        """Write everything queued so far, then close the file."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._db.close()

    def _write_loop(self) -> None:
        unpruned: Counter[str] = Counter()
        while True:
            batch = [self._queue.get()]
            if not isinstance(batch[0], _Stop):
                time.sleep(BATCH_WINDOW)
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [item for item in batch if isinstance(item, Record)]
            if records:
                self._write(records)
                unpruned.update(record.room for record in records)
            stopping = len(records) < len(batch)
            due = [room for room, n in unpruned.items() if stopping or n >= self._prune_every]
            for room in due:
                self._prune(room)
                del unpruned[room]
            if stopping:
                return

    def _write(self, records: list[Record]) -> None:
        # Many rows per statement: the GIL is given up once per statement, not
        # once per row, so the writer hardly slows the event loop down.
        try:
            with self._db:
                self._db.execute("BEGIN")
                for start in range(0, len(records), ROWS_PER_INSERT):
                    chunk = records[start : start + ROWS_PER_INSERT]
                    values: list[object] = []
                    for r in chunk:
                        values += (r.room, r.time, r.sender, r.text, int(r.action))
                    self._db.execute(_insert(len(chunk)), values)
        except sqlite3.Error as problem:
            log.error("could not store %d history lines: %s", len(records), problem)

    def _prune(self, room: str) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "DELETE FROM messages WHERE room = ? AND id <= ("
                    "SELECT id FROM messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (room, room, self._keep),
                )
        except sqlite3.Error as problem:
            log.error("could not prune the history of %s: %s", room, problem)
