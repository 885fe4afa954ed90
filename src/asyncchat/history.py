"""Each room's most recent lines, in memory, so a join never waits on the disk."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from .events import Record


class RecentHistory:
    """The last `limit` records of every room that has any, oldest first."""

    __slots__ = ("_limit", "_rooms")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rooms: dict[str, deque[Record]] = {}

    def add(self, record: Record) -> None:
        if self._limit <= 0:
            return
        kept = self._rooms.get(record.room)
        if kept is None:
            kept = self._rooms[record.room] = deque(maxlen=self._limit)
        kept.append(record)

    def load(self, records: Iterable[Record]) -> None:
        """Fill from storage at start-up; `records` come oldest first."""
        for record in records:
            self.add(record)

    def recent(self, room: str) -> tuple[Record, ...]:
        return tuple(self._rooms.get(room, ()))
