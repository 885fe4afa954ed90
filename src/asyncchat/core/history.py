"""Each room's most recent lines in memory, within a byte budget across rooms.

A join is answered from memory when its room is cached and from the history
file (`load`) when it is not, so memory stays bounded however many rooms have
ever spoken, and a restart reads a room only when somebody enters it.

Memory accounting, from `sys.getsizeof` (sizes for 64-bit CPython 3.11):

- a record: the `Record` (72 bytes), its `time` float (24), and its `text`
  and `sender` strings (49 bytes plus one per character for ASCII). Records
  are stored with the cache's own room string, so the room is counted once
  per room, not per record. A live line's sender is the session's name
  string, counted for every line anyway: the estimate errs high there (by
  ~20% for short lines); for rows read from the file, all fresh objects, it
  is within a few percent of what tracemalloc measures.
- a room: its deque (760 bytes with its first block, and 528 for each
  further block it allocates, see `deque_blocks`), the `_Room` (64), the
  room string, and `_ENTRY` (100) for its `OrderedDict` node and slot
  (measured at 65-75 bytes, more while the table grows).

Left out: allocator rounding (pymalloc rounds to 16 bytes), the dict's own
table beyond `_ENTRY`, and the tuples `recent` hands out for one join.
"""

from __future__ import annotations

import struct
import sys
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace
from sys import getsizeof

from asyncchat.core.events import Record

Loader = Callable[[str, int], list[Record]]

_POINTER = struct.calcsize("P")
_BLOCKLEN = 64
# A CPython deque block: 64 item slots plus its left and right links.
_BLOCK = (_BLOCKLEN + 2) * _POINTER
# A new deque starts appending in the middle of its first block.
_FIRST_BLOCK_ITEMS = _BLOCKLEN // 2
_ENTRY = 100
_RECORD = sys.getsizeof(Record("", 0.0, "", "")) + sys.getsizeof(0.0)


def record_bytes(record: Record) -> int:
    """The memory one cached record holds (see the module docstring)."""
    return _RECORD + sys.getsizeof(record.text) + sys.getsizeof(record.sender)


def deque_blocks(appended: int, limit: int) -> int:
    """Blocks a deque of maxlen `limit` has allocated after `appended` appends.

    Until it is full it has the blocks its items reach into. Once full it
    appends before it drops its oldest, so it spans the blocks of `limit + 1`
    items; blocks it frees are kept for reuse, so it keeps the most it ever
    spanned, which is the most that `limit + 1` items can span.
    """
    reached = (appended + _BLOCKLEN - _FIRST_BLOCK_ITEMS - 1) // _BLOCKLEN + 1
    most = (limit + 1 + _BLOCKLEN - 2) // _BLOCKLEN + 1
    return min(reached, most)


class _Room:
    __slots__ = ("appended", "growing", "key", "records", "size")

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.records: deque[Record] = deque(maxlen=limit)
        self.appended = 0
        # Past this many appends the deque allocates no more blocks (see deque_blocks).
        self.growing = limit + 1 + _BLOCKLEN
        self.size = _FIXED_PER_ROOM + sys.getsizeof(key)


# The deque with its first block, the _Room, and its OrderedDict entry.
_FIXED_PER_ROOM = sys.getsizeof(deque[Record]()) + sys.getsizeof(object.__new__(_Room)) + _ENTRY


class RecentHistory:
    """Each room's last `limit` records, LRU-cached within `budget` bytes."""

    __slots__ = ("_budget", "_limit", "_load", "_rooms", "_size")

    def __init__(self, limit: int, budget: int, load: Loader | None = None) -> None:
        """`load(room, n)` gives a room's last `n` records, oldest first; without
        it (no history file) the cache is all the history there is."""
        self._limit = limit
        self._budget = budget
        self._load = load
        self._rooms: OrderedDict[str, _Room] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes accounted now; never above the budget."""
        return self._size

    @property
    def rooms(self) -> int:
        return len(self._rooms)

    def add(self, record: Record) -> None:
        """Remember a line just said (the caller stores it in the file too)."""
        if self._limit <= 0:
            return
        room = self._rooms.get(record.room)
        if room is None:
            if self._load is not None:
                # The file has it; the next `recent` reads it from there.
                return
            room = self._enter(record.room)
        else:
            self._rooms.move_to_end(record.room)
        self._append(room, record)
        if self._size > self._budget:
            self._evict()

    def recent(self, room: str) -> tuple[Record, ...]:
        """The room's last `limit` records, oldest first, read in if not cached."""
        if self._limit <= 0:
            return ()
        kept = self._rooms.get(room)
        if kept is not None:
            self._rooms.move_to_end(room)
            return tuple(kept.records)
        if self._load is None:
            return ()
        loaded = self._load(room, self._limit)
        # Cached even when empty, so a room without history is not read again.
        kept = self._enter(room)
        for record in loaded[-self._limit :]:
            self._append(kept, record)
        answer = tuple(kept.records)
        self._evict()
        return answer

    def _enter(self, key: str) -> _Room:
        room = self._rooms[key] = _Room(key, self._limit)
        self._size += room.size
        return room

    def _append(self, room: _Room, record: Record) -> None:
        """Append and account; the hot path of every public line, so kept lean."""
        if record.room is not room.key:
            record = replace(record, room=room.key)
        records = room.records
        change = _RECORD + getsizeof(record.text) + getsizeof(record.sender)
        if len(records) == records.maxlen:
            oldest = records[0]
            change -= _RECORD + getsizeof(oldest.text) + getsizeof(oldest.sender)
        records.append(record)
        if room.appended < room.growing:
            room.appended += 1
            limit = self._limit
            blocks = deque_blocks(room.appended, limit) - deque_blocks(room.appended - 1, limit)
            change += blocks * _BLOCK
        room.size += change
        self._size += change

    def _evict(self) -> None:
        while self._size > self._budget and self._rooms:
            _, room = self._rooms.popitem(last=False)
            self._size -= room.size
