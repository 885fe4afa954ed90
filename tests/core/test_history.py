"""The in-memory history cache: LRU order, the byte budget, lazy loading, accounting."""

from __future__ import annotations

import sys
import tracemalloc
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncchat.core import history
from asyncchat.core.events import Record
from asyncchat.core.history import RecentHistory


def record(room: str, n: int, text: str = "") -> Record:
    return Record(room, 1_794_913_560.0 + n, f"user{n % 3}", text or f"line {n}")


class File:
    """Stands in for the history file: every line ever said, and who read what."""

    def __init__(self) -> None:
        self.lines: dict[str, list[Record]] = {}
        self.loads: list[str] = []

    def say(self, cache: RecentHistory, line: Record) -> None:
        self.lines.setdefault(line.room, []).append(line)
        cache.add(line)

    def load(self, room: str, limit: int) -> list[Record]:
        self.loads.append(room)
        return self.lines.get(room, [])[-limit:]


def independent_size(cache: RecentHistory) -> int:
    """What the cache holds now, recomputed from its contents with sys.getsizeof.

    The deque is measured by CPython itself; its figure counts only the
    blocks in use now, while the cache also counts a block the deque keeps
    for reuse, so the cache may be up to one block per room above it.
    """
    total = 0
    for key, room in cache._rooms.items():
        records = sum(
            sys.getsizeof(r)
            + sys.getsizeof(r.time)
            + sys.getsizeof(r.text)
            + sys.getsizeof(r.sender)
            for r in room.records
        )
        fixed = sys.getsizeof(room) + sys.getsizeof(key) + history._ENTRY
        deque_part = room.size - records - fixed
        assert (
            sys.getsizeof(room.records)
            <= deque_part
            <= sys.getsizeof(room.records) + history._BLOCK
        )
        assert all(r.room is key for r in room.records)
        total += room.size
    return total


def test_without_a_file_each_room_keeps_its_last_lines() -> None:
    cache = RecentHistory(3, budget=1 << 20)
    for n in range(5):
        cache.add(record("lobby", n))
    cache.add(record("games", 9))
    assert cache.recent("lobby") == tuple(record("lobby", n) for n in (2, 3, 4))
    assert cache.recent("games") == (record("games", 9),)
    assert cache.recent("empty") == ()
    assert cache.rooms == 2
    assert cache.size == independent_size(cache)


def test_the_least_recently_used_room_goes_first() -> None:
    probe = RecentHistory(5, budget=1 << 20)
    probe.add(record("a", 0))
    one_room = probe.size
    cache = RecentHistory(5, budget=3 * one_room)
    for room in "abc":
        cache.add(record(room, 0))
    assert cache.rooms == 3
    assert cache.size == 3 * one_room
    cache.recent("a")  # now b is the least recently used
    cache.add(record("d", 0))
    assert [cache.recent(room) != () for room in "acd"] == [True, True, True]
    assert cache.recent("b") == ()
    cache.add(record("c", 1))  # touched in the order a, c, d: a is the least recently used
    # c is now bigger than one room's worth, so a goes to keep within the budget
    assert cache.size <= 3 * one_room
    assert cache.rooms == 2
    assert cache.recent("d") == (record("d", 0),)
    assert cache.recent("c") == (record("c", 0), record("c", 1))
    assert cache.recent("a") == ()


def test_a_room_bigger_than_the_budget_is_not_kept() -> None:
    cache = RecentHistory(5, budget=600)
    cache.add(record("lobby", 0))
    assert (cache.rooms, cache.size) == (0, 0)
    assert cache.recent("lobby") == ()


def test_a_room_is_read_from_the_file_once() -> None:
    file = File()
    for n in range(30):
        file.lines.setdefault("lobby", []).append(record("lobby", n))
    cache = RecentHistory(20, budget=1 << 20, load=file.load)
    assert cache.rooms == 0
    assert cache.recent("lobby") == tuple(file.lines["lobby"][-20:])
    assert cache.recent("lobby") == tuple(file.lines["lobby"][-20:])
    assert cache.recent("quiet") == ()
    assert cache.recent("quiet") == ()
    assert file.loads == ["lobby", "quiet"]
    file.say(cache, record("lobby", 30))
    assert cache.recent("lobby") == tuple(file.lines["lobby"][-20:])
    assert file.loads == ["lobby", "quiet"]
    assert cache.size == independent_size(cache)


def test_a_line_in_an_uncached_room_is_left_to_the_file() -> None:
    file = File()
    cache = RecentHistory(20, budget=1 << 20, load=file.load)
    file.say(cache, record("lobby", 1))
    assert (cache.rooms, cache.size, file.loads) == (0, 0, [])
    assert cache.recent("lobby") == (record("lobby", 1),)
    assert file.loads == ["lobby"]


def test_budget_zero_keeps_nothing_but_still_answers_from_the_file() -> None:
    file = File()
    cache = RecentHistory(20, budget=0, load=file.load)
    file.say(cache, record("lobby", 1))
    assert cache.recent("lobby") == (record("lobby", 1),)
    assert cache.recent("lobby") == (record("lobby", 1),)
    assert (cache.rooms, cache.size, file.loads) == (0, 0, ["lobby", "lobby"])


def test_limit_zero_keeps_nothing_and_never_reads() -> None:
    file = File()
    cache = RecentHistory(0, budget=1 << 20, load=file.load)
    file.say(cache, record("lobby", 1))
    assert cache.recent("lobby") == ()
    assert (cache.rooms, cache.size, file.loads) == (0, 0, [])
    memory_only = RecentHistory(0, budget=1 << 20)
    memory_only.add(record("lobby", 1))
    assert (memory_only.recent("lobby"), memory_only.rooms) == ((), 0)


def test_records_share_the_room_string() -> None:
    cache = RecentHistory(20, budget=1 << 20)
    for n in range(3):
        cache.add(Record("".join(["lob", "by"]), float(n), "bob", "hi"))
    stored = cache.recent("lobby")
    assert len({id(r.room) for r in stored}) == 1
    assert cache.size == independent_size(cache)


def test_deque_blocks_match_tracemalloc() -> None:
    """The blocks a deque allocates, as `deque_blocks` predicts, for many lengths."""
    empty = sys.getsizeof(deque())
    for limit in (1, 20, 31, 32, 33, 64, 65, 200):
        for appended in (0, 1, 31, 32, 33, 64, 65, 97, 150, 400):
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                deques: list[deque[None]] = [deque(maxlen=limit) for _ in range(100)]
                for d in deques:
                    for _ in range(appended):
                        d.append(None)  # as the cache does (extend fills from elsewhere)
                used = tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(deques)
            finally:
                tracemalloc.stop()
            predicted = empty + (history.deque_blocks(appended, limit) - 1) * history._BLOCK
            assert abs(used / 100 - predicted) < 8, (limit, appended)


def test_the_estimate_matches_tracemalloc_for_rooms_read_from_the_file() -> None:
    """Each row read from the file is all fresh objects: the estimate is within 10%."""

    def load(room: str, limit: int) -> list[Record]:
        return [
            Record(room, 1.7e9 + n, f"user{n % 7}", f"line {n} in {room} " + "x" * (n * 7 % 90))
            for n in range(limit)
        ]

    for limit, rooms in ((20, 2000), (1, 5000), (100, 300)):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            cache = RecentHistory(limit, budget=1 << 30, load=load)
            for n in range(rooms):
                cache.recent(f"room-{n}")
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert cache.rooms == rooms
        assert 0.9 <= used / cache.size <= 1.1, (limit, used, cache.size)


def test_the_estimate_is_an_upper_bound_for_live_lines() -> None:
    """Live lines share the sender's name with the session: counted, so the
    estimate is high, but by no more than a third."""
    senders = [f"user-{n}" for n in range(50)]
    rooms = [f"room-{n}" for n in range(500)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = RecentHistory(20, budget=1 << 30)
        for n in range(20_000):
            cache.add(Record(rooms[n % 500], 1.7e9 + n, senders[n % 50], f"said {n} " * 3))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.size == independent_size(cache)
    assert 0.75 * cache.size <= used <= cache.size, (used, cache.size)


operations = st.lists(
    st.tuples(
        st.sampled_from(["say", "join"]),
        st.integers(0, 7),
        st.text(max_size=40),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(0, 6),
    budget=st.integers(0, 12_000),
    steps=operations,
)
def test_with_a_file_the_cache_is_always_right_and_within_budget(
    limit: int, budget: int, steps: list[tuple[str, int, str]]
) -> None:
    file = File()
    cache = RecentHistory(limit, budget, load=file.load)
    for n, (op, which, text) in enumerate(steps):
        room = f"room{which}"
        if op == "say":
            file.say(cache, Record(room, float(n), "bob", text))
        else:
            expected = tuple(file.lines.get(room, [])[-limit:]) if limit > 0 else ()
            assert cache.recent(room) == expected
        assert cache.size <= budget
        assert cache.size == independent_size(cache)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(0, 6),
    budget=st.integers(0, 12_000),
    steps=operations,
)
def test_without_a_file_the_cache_keeps_a_recent_tail_within_budget(
    limit: int, budget: int, steps: list[tuple[str, int, str]]
) -> None:
    said: dict[str, list[Record]] = {}
    cache = RecentHistory(limit, budget)
    for n, (op, which, text) in enumerate(steps):
        room = f"room{which}"
        if op == "say":
            line = Record(room, float(n), "bob", text)
            said.setdefault(room, []).append(line)
            cache.add(line)
        else:
            got = cache.recent(room)
            assert len(got) <= limit
            everything = said.get(room, [])
            # newest lines, in order, possibly fewer once the room was evicted
            assert list(got) == everything[len(everything) - len(got) :]
        assert cache.size <= budget
        assert cache.size == independent_size(cache)
