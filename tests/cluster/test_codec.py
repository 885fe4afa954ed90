"""The cluster's JSON codec: events, addresses, session states and kept items round-trip
through real JSON, and anything else is refused with BadEntry (never run, never half read)."""

from __future__ import annotations

import json
import pickle
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncchat.cluster.codec import (
    EVENTS,
    TARGETS,
    BadEntry,
    dump,
    dump_event,
    dump_kept,
    dump_state,
    dump_target,
    load,
    load_account,
    load_ban,
    load_event,
    load_mute,
    load_state,
    load_target,
)
from asyncchat.cluster.directory import NODE_SHIFT, SessionState
from asyncchat.core.accounts import Account
from asyncchat.core.effects import Target, ToEveryone, ToRoom, ToRooms, ToSession, ToSessions
from asyncchat.core.events import (
    AccountChange,
    AccountState,
    AskName,
    AskPassword,
    AwayChanged,
    AwayState,
    Bye,
    Error,
    ErrorCode,
    Event,
    Hello,
    HelpText,
    HistoryEnd,
    HistoryLine,
    HistoryStart,
    IgnoreList,
    Ignoring,
    IsAway,
    Joined,
    LeaveReason,
    Left,
    Notice,
    Online,
    Pong,
    Private,
    PrivateSent,
    Record,
    Removed,
    Renamed,
    RoomEntered,
    Rooms,
    Said,
    ShuttingDown,
    SignedInElsewhere,
    Tagged,
    TopicChanged,
    TopicIs,
    Wall,
    Welcome,
)
from asyncchat.core.moderation import Ban, BanKind, Mute

REMOTE = (7 << NODE_SHIFT) + 12345
"""An id of node 7: bigger than 32 bits, as every clustered id is."""

RECORD = Record("café", 1_700_000_000.25, "Zoë", "héllo 🌍 <b>&amp;</b>", False, REMOTE)
ACTION = Record("lobby", 0.0, "Bob", "waves", True, 0)

SAMPLES: list[Event] = [
    Welcome(),
    AskName(),
    Hello("Zoë", ("Alice", "Zoë", "日本"), "a tøpic"),
    Hello("Bob", ()),
    Joined("Zoë", 3),
    Joined("Zoë", 12, moved=True, room="Café"),
    RoomEntered("Café", ("Alice", "Zoë"), "the topic"),
    RoomEntered("empty", ()),
    Rooms((("Café", 2), ("lobby", 10))),
    Rooms(()),
    HistoryStart("Café"),
    HistoryLine(RECORD, "Café"),
    HistoryLine(ACTION),
    HistoryEnd("Café"),
    Left("Zoë", LeaveReason.QUIT, "bye ✌", "Café"),
    Left("Bob", LeaveReason.NODE_LOST),
    Left("Bob", LeaveReason.BANNED, None, ""),
    Said(RECORD, "Café", (("+typing", "active"), ("msgid", "ä=b;c"))),
    Said(ACTION),
    Private("Zoë", "psst ✉", 1_700_000_000.5, REMOTE),
    Private("Bob", "", 0.0, 0),
    PrivateSent("Zoë", "psst"),
    Online(("Alice", "Zoë"), frozenset({"Zoë"})),
    Online(()),
    Renamed("Zoë", "Zoé"),
    Pong("tøken 1"),
    HelpText(),
    HelpText("ban", operator=True),
    IsAway("Zoë", "at lunch 🍜"),
    AwayState("at lunch"),
    AwayState(None),
    Ignoring("Bob", on=True),
    Ignoring("Bob", on=False),
    IgnoreList(("Bob", "Éve")),
    Bye("Zoë"),
    ShuttingDown(),
    AskPassword("Zoë"),
    AccountState(AccountChange.PASSWORD_CHANGED, "Zoë"),
    SignedInElsewhere(),
    Removed(LeaveReason.KICKED, "Op", "be nice"),
    Removed(LeaveReason.BANNED, "Op"),
    Wall("Op", "maintenance at 10 ⏰"),
    TopicIs("Café", ""),
    TopicChanged("Zoë", "Café", "new tøpic"),
    AwayChanged("Zoë", "gone fishing"),
    AwayChanged("Zoë", None),
    Tagged("Zoë", "Café", (("+typing", "active"),)),
    Tagged("Zoë", "", ()),
    Notice("*** a notice ***"),
    Error(ErrorCode.DEGRADED, "the chat is degraded; your message was not sent"),
]


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def test_there_is_a_sample_of_every_event_type() -> None:
    assert {type(sample) for sample in SAMPLES} == set(typing.get_args(Event))
    assert set(EVENTS.values()) == set(typing.get_args(Event))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_every_event_round_trips_through_json(event: Event) -> None:
    loaded = load_event(through_json(dump_event(event)))
    assert loaded == event
    assert type(loaded) is type(event)


def test_loaded_events_hold_tuples_frozensets_and_enums_not_lists() -> None:
    online = load_event(through_json(dump_event(Online(("A", "B"), frozenset({"B"})))))
    assert isinstance(online, Online)
    assert isinstance(online.names, tuple)
    assert isinstance(online.away, frozenset)
    said = load_event(through_json(dump_event(SAMPLES[17])))
    assert isinstance(said, Said)
    assert isinstance(said.tags, tuple)
    assert all(isinstance(tag, tuple) for tag in said.tags)
    assert hash(said) == hash(SAMPLES[17])  # frozen and hashable all the way down
    left = load_event(through_json(dump_event(Left("A", LeaveReason.NODE_LOST))))
    assert isinstance(left, Left)
    assert left.reason is LeaveReason.NODE_LOST
    error = load_event(through_json(dump_event(Error(ErrorCode.MUTED, "x"))))
    assert isinstance(error, Error)
    assert error.code is ErrorCode.MUTED


def test_an_enum_is_written_as_its_value_and_a_said_line_by_its_short_path() -> None:
    assert dump_event(Left("A", LeaveReason.NODE_LOST)) == ["Left", ["A", "node lost", None, ""]]
    assert dump_event(Said(ACTION, "lobby")) == [
        "Said",
        [["lobby", 0.0, "Bob", "waves", True, 0], "lobby", ()],
    ]


def test_a_record_read_with_an_integer_time_keeps_a_float() -> None:
    said = load_event(["Said", [["r", 5, "s", "t", False, 1], "r", []]])
    assert isinstance(said, Said)
    assert said.record.time == 5.0
    assert type(said.record.time) is float
    line = load_event(["HistoryLine", [["r", 5, "s", "t", False, 1], "r"]])
    assert isinstance(line, HistoryLine)
    assert type(line.record.time) is float


TARGET_SAMPLES: list[Target] = [
    ToSession(REMOTE),
    ToSession(1),
    ToSessions((1, REMOTE, (3 << NODE_SHIFT) + 1)),
    ToSessions(()),
    ToRoom("café"),
    ToRoom("lobby", exclude=REMOTE, skip=frozenset({1, REMOTE})),
    ToRooms(("lobby", "café")),
    ToRooms(()),
    ToEveryone(),
]


def test_there_is_a_sample_of_every_target_type() -> None:
    assert {type(sample) for sample in TARGET_SAMPLES} == set(typing.get_args(Target))
    assert set(TARGETS.values()) == set(typing.get_args(Target))


@pytest.mark.parametrize("target", TARGET_SAMPLES, ids=repr)
def test_every_target_round_trips_through_json(target: Target) -> None:
    loaded = load_target(through_json(dump_target(target)))
    assert loaded == target
    assert type(loaded) is type(target)


STATES = [
    SessionState(REMOTE, "Zoë", "zoë", (("lobby", "lobby"), ("café", "Café")), "café"),
    SessionState(1, "Bob", "bob", (), "", "away: 🍜", "2001:db8::1"),
    SessionState((2 << NODE_SHIFT) + 1, "日本", "日本", (("x", "X"),), "x", None, "10.0.0.1"),
]


@pytest.mark.parametrize("state", STATES, ids=lambda state: state.name)
def test_session_states_round_trip_as_text_and_as_bytes(state: SessionState) -> None:
    text = dump_state(state)
    assert load_state(text) == state
    assert load_state(text.encode()) == state  # as Redis hands them back
    assert isinstance(load_state(text).rooms, tuple)
    assert all(isinstance(room, tuple) for room in load_state(text).rooms)


def test_session_state_text_is_compact_and_keeps_unicode() -> None:
    text = dump_state(STATES[0])
    assert "Zoë" in text
    assert " " not in text
    assert json.loads(text)[0] == REMOTE


KEPT: list[Account | Ban | Mute] = [
    Account("Zoë", "zoë", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", 1_700_000_000.5),
    Account("Bob", "bob", "", 0.0),
    Ban(BanKind.NAME, "zoë", "Zoë", "Op", "spam ✉", 100.0, 700.5),
    Ban(BanKind.NAME, "bob", "Bob", "Op"),
    Ban(BanKind.NETWORK, "10.0.0.0/8", "10.0.0.0/8", "Op", None, 5.0, None),
    Ban(BanKind.NETWORK, "2001:db8::/32", "2001:db8::/32", "Op", "v6", 1.0, 2.0),
    Mute("zoë", "Zoë", "Op", 100.0, 160.0),
    Mute("bob", "Bob", "Op"),
]


@pytest.mark.parametrize("item", KEPT, ids=repr)
def test_accounts_bans_and_mutes_round_trip(item: Account | Ban | Mute) -> None:
    text = dump_kept(item)
    loader = {Account: load_account, Ban: load_ban, Mute: load_mute}[type(item)]
    loaded = loader(text)
    assert loaded == item
    assert loader(text.encode()) == item
    assert type(loaded) is type(item)


def test_an_account_secret_survives_the_round_trip() -> None:
    account = KEPT[0]
    assert isinstance(account, Account)
    assert load_account(dump_kept(account)).secret == account.secret


def test_a_kept_item_is_refused_as_another_kind() -> None:
    with pytest.raises(BadEntry):
        load_ban(dump_kept(KEPT[0]))  # an account is not a ban
    with pytest.raises(BadEntry):
        load_mute(dump_kept(KEPT[2]))  # a ban is not a mute
    with pytest.raises(BadEntry):
        load_account(dump_kept(KEPT[6]))  # a mute is not an account (wrong field count)


HUGE = 10**30
"""An int JSON reads back fine but no string field can be."""

BAD_EVENTS: list[Any] = [
    None,
    5,
    HUGE,
    "Welcome",
    "",
    [],
    ["Welcome"],
    ["Welcome", [], "extra"],
    {"Welcome": []},
    ["Nope", []],
    ["__class__", []],
    ["Record", ["r", 0.0, "s", "t", False, 0]],  # a dataclass, but not an event
    ["ToSession", [1]],  # an address, not an event
    [["Welcome"], []],
    [{"a": 1}, []],
    [None, []],
    ["Welcome", None],
    ["Welcome", {}],
    ["Welcome", [1]],
    ["Hello", "abc"],
    ["Hello", {"name": "a", "online": []}],
    ["Hello", ["a"]],
    ["Hello", ["a", [], "", "extra"]],
    ["Hello", [5, [], ""]],
    ["Hello", [HUGE, [], ""]],
    ["Hello", ["a", "bc", ""]],
    ["Hello", ["a", ["b", 2], ""]],
    ["Hello", ["a", [["nested", ["junk"]]], ""]],
    ["Hello", ["a", [], None]],
    ["Joined", ["a", "3", False, ""]],
    ["Joined", ["a", 3, 0, ""]],
    ["Joined", ["a", 3.5, False, ""]],
    ["Left", ["a", "nope", None, ""]],
    ["Left", ["a", ["quit"], None, ""]],
    ["Left", ["a", {"x": 1}, None, ""]],
    ["Left", ["a", "quit", HUGE, ""]],
    ["Error", ["no-such-code", "x"]],
    ["Error", ["DEGRADED", "x"]],  # by value, not by member name
    ["AccountState", ["nope", "a"]],
    ["Online", [["a"], "b"]],
    ["Online", [["a"], [["b"]]]],
    ["Online", [["a"], {"b": 1}]],
    ["Rooms", [[["a", 1, 2]]]],
    ["Rooms", [[["a"]]]],
    ["Rooms", [[["a", "1"]]]],
    ["Rooms", [["a"]]],
    ["Private", ["a", "b", "soon", 0]],
    ["Private", ["a", "b", 0.0, 1.5]],
    ["Private", ["a", "b", 0.0, "1"]],
    ["Private", ["a", "b", None, 0]],
    ["Tagged", ["a", "r", [["k"]]]],
    ["Tagged", ["a", "r", [["k", 1]]]],
    ["Tagged", ["a", "r", "kv"]],
    ["HistoryLine", [["r", 0.0, "s", "t"], "r"]],
    ["HistoryLine", [{"room": "r"}, "r"]],
    ["HistoryLine", ["r", "r"]],
    ["HistoryLine", [["r", 0.0, HUGE, "t", False, 0], "r"]],
    ["Said", None],
    ["Said", []],
    ["Said", "abc"],
    ["Said", [["r", 0, "s", "t", False], "r", []]],
    ["Said", [["r", 0, "s", "t", False, 0, 9], "r", []]],
    ["Said", [["r", "soon", "s", "t", False, 0], "r", []]],
    ["Said", [["r", None, "s", "t", False, 0], "r", []]],
    ["Said", [["r", [], "s", "t", False, 0], "r", []]],
    ["Said", [["r", 0, "s", "t", False, "one"], "r", []]],
    ["Said", [["r", 0, "s", "t", False, None], "r", []]],
    ["Said", [["r", 0, "s", "t", False, 0], "r", [["a"]]]],
    ["Said", [["r", 0, "s", "t", False, 0], "r", [["a", "b", "c"]]]],
    ["Said", [["r", 0, "s", "t", False, 0], "r", 5]],
    ["Said", [["r", 0, "s", "t", False, 0], "r", [5]]],
    ["Said", [["r", 0, "s", "t", False, 0], "r"]],
]


@pytest.mark.parametrize("value", BAD_EVENTS, ids=repr)
def test_garbage_is_not_an_event(value: Any) -> None:
    with pytest.raises(BadEntry):
        load_event(value)


@pytest.mark.parametrize("value", BAD_EVENTS, ids=repr)
def test_garbage_is_refused_after_json_too(value: Any) -> None:
    with pytest.raises(BadEntry):
        load_event(through_json(value))


BAD_TARGETS: list[Any] = [
    None,
    "ToEveryone",
    [],
    ["ToEveryone"],
    ["ToEveryone", [1]],
    ["Nope", []],
    ["Welcome", []],  # an event, not an address
    ["ToSession", []],
    ["ToSession", ["1"]],
    ["ToSession", [1.5]],
    ["ToSession", [None]],
    ["ToSession", [[1]]],
    ["ToSession", [1, 2]],
    ["ToSessions", [1]],
    ["ToSessions", [[1, "2"]]],
    ["ToSessions", [[[1]]]],
    ["ToRoom", [HUGE]],
    ["ToRoom", ["r", "0", []]],
    ["ToRoom", ["r", 0, [1, [2]]]],
    ["ToRoom", ["r", 0, "12"]],
    ["ToRoom", ["r", 0]],
    ["ToRooms", ["lobby"]],
    ["ToRooms", [["lobby", 1]]],
    ["ToRooms", [{"lobby": 1}]],
]


@pytest.mark.parametrize("value", BAD_TARGETS, ids=repr)
def test_garbage_is_not_an_address(value: Any) -> None:
    with pytest.raises(BadEntry):
        load_target(value)


def _dumps(value: Any) -> str:
    return json.dumps(value)


BAD_STATES: list[str | bytes] = [
    "",
    "not json",
    "null",
    "5",
    '"text"',
    "{}",
    '{"id": 1, "name": "a"}',
    "[]",
    _dumps([1, "a", "a", [], ""]),  # a field short
    _dumps([1, "a", "a", [], "", None, None, "extra"]),
    _dumps(["1", "a", "a", [], "", None, None]),
    _dumps([1.5, "a", "a", [], "", None, None]),
    _dumps([1, HUGE, "a", [], "", None, None]),
    _dumps([1, "a", HUGE, [], "", None, None]),
    _dumps([1, "a", "a", [["lobby"]], "lobby", None, None]),
    _dumps([1, "a", "a", [["lobby", "lobby", "x"]], "lobby", None, None]),
    _dumps([1, "a", "a", [["lobby", 5]], "lobby", None, None]),
    _dumps([1, "a", "a", "lobby", "lobby", None, None]),
    _dumps([1, "a", "a", [], "", 5, None]),
    _dumps([1, "a", "a", [], "", None, ["10.0.0.1"]]),
    _dumps([1, "a", "a", [[[["deep"]]]], "", None, None]),
    b"\xff\xfe\x00",
    b"\x80\x81",
]


@pytest.mark.parametrize("text", BAD_STATES, ids=repr)
def test_garbage_is_not_a_session_state(text: str | bytes) -> None:
    with pytest.raises(BadEntry):
        load_state(text)


BAD_KEPT: list[tuple[Any, str]] = [
    (load_account, "[]"),
    (load_account, '["a", "a"]'),
    (load_account, '["a", "a", "secret", 0.0, 1]'),
    (load_account, '["a", "a", null, 0.0]'),
    (load_account, '["a", 5, "secret", 0.0]'),
    (load_account, '["a", "a", "secret", "0"]'),
    (load_account, '{"name": "a", "key": "a", "secret": "s"}'),
    (load_ban, '["name"]'),
    (load_ban, '["nope", "a", "a", "op", null, 0.0, null]'),
    (load_ban, '["NAME", "a", "a", "op", null, 0.0, null]'),
    (load_ban, '["name", "a", "a", "op", null, 0.0, "later"]'),
    (load_ban, '["name", "a", "a", "op", 5, 0.0, null]'),
    (load_ban, '["name", ["a"], "a", "op", null, 0.0, null]'),
    (load_ban, f'["name", {HUGE}, "a", "op", null, 0.0, null]'),
    (load_mute, '["k", "n", "b", 0.0]'),
    (load_mute, '["k", "n", "b", "0", null]'),
    (load_mute, '["k", "n", {"b": 1}, 0.0, null]'),
    (load_mute, "true"),
]


@pytest.mark.parametrize(("loader", "text"), BAD_KEPT, ids=repr)
def test_garbage_is_not_an_account_a_ban_or_a_mute(loader: Any, text: str) -> None:
    with pytest.raises(BadEntry):
        loader(text)


class _Trap:
    """Unpickling this would run code: the codec must never get that far."""

    ran: typing.ClassVar[list[str]] = []

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_Trap.ran.append, ("ran",))


def test_a_pickle_is_refused_and_never_run() -> None:
    payload = pickle.dumps(_Trap())
    for loader in (load_state, load_account, load_ban, load_mute):
        with pytest.raises(BadEntry):
            loader(payload)
    with pytest.raises(BadEntry):
        load_event(["Said", payload])
    with pytest.raises(BadEntry):
        load_event(payload)
    assert _Trap.ran == []


# A JSON integer bigger than any float: reading it as a float overflows.
OVERFLOWING = 10**400

OVERFLOWS: list[Any] = [
    pytest.param(lambda: load_event(["Private", ["a", "b", OVERFLOWING, 0]]), id="Private.time"),
    pytest.param(
        lambda: load_event(["HistoryLine", [["r", OVERFLOWING, "s", "t", False, 0], "r"]]),
        id="HistoryLine.record.time",
    ),
    pytest.param(
        lambda: load_event(["Said", [["r", OVERFLOWING, "s", "t", False, 0], "r", []]]),
        id="Said.record.time",
    ),
    pytest.param(
        lambda: load_ban(f'["name", "a", "a", "op", null, {OVERFLOWING}, null]'),
        id="Ban.created",
    ),
    pytest.param(
        lambda: load_mute(f'["k", "n", "b", 0.0, {OVERFLOWING}]'),
        id="Mute.until",
    ),
    pytest.param(
        lambda: load_account(f'["a", "a", "s", {OVERFLOWING}]'),
        id="Account.created",
    ),
]


@pytest.mark.parametrize("read", OVERFLOWS)
def test_an_integer_too_big_for_a_float_field_is_bad_entry(read: Any) -> None:
    with pytest.raises(BadEntry):
        read()


def test_deeply_nested_json_is_bad_entry() -> None:
    with pytest.raises(BadEntry):
        load_state("[" * 100_000 + "]" * 100_000)


LAX_SAID: list[Any] = [
    pytest.param(["Said", [[1, 0, "s", "t", False, 0], "r", []]], id="room-int"),
    pytest.param(["Said", [["r", 0, ["s"], "t", False, 0], "r", []]], id="sender-list"),
    pytest.param(["Said", [["r", 0, "s", None, False, 0], "r", []]], id="text-null"),
    pytest.param(["Said", [["r", 0, "s", {"t": 1}, False, 0], "r", []]], id="text-object"),
    pytest.param(["Said", [["r", 0, "s", "t", "yes", 0], "r", []]], id="action-string"),
    pytest.param(["Said", [["r", 0, "s", "t", False, "5"], "r", []]], id="id-string"),
    pytest.param(["Said", [["r", 0, "s", "t", False, 1.5], "r", []]], id="id-float"),
    pytest.param(["Said", [["r", "1e3", "s", "t", False, 0], "r", []]], id="time-string"),
    pytest.param(["Said", [["r", 0, "s", "t", False, 0], 7, []]], id="shown-int"),
    pytest.param(["Said", [["r", 0, "s", "t", False, 0], "r", [[1, 2]]]], id="tags-ints"),
    pytest.param(["Said", [["r", 0, "s", "t", False, 0], "r", ["ab"]]], id="tag-as-string"),
]


@pytest.mark.parametrize("value", LAX_SAID)
def test_a_said_line_with_wrongly_typed_fields_is_bad_entry(value: Any) -> None:
    with pytest.raises(BadEntry):
        load_event(value)


@pytest.mark.parametrize("value", LAX_SAID[:8])
def test_the_generic_path_refuses_the_same_record_fields(value: Any) -> None:
    """The same record read as a HistoryLine's (the generic path) is refused."""
    with pytest.raises(BadEntry):
        load_event(["HistoryLine", [value[1][0], "r"]])


def test_a_boolean_is_not_an_id() -> None:
    with pytest.raises(BadEntry):
        load_target(["ToSession", [True]])


# Property tests: whatever the text, a line comes back as it was written.

texts = st.text()
times = st.floats(allow_nan=False, allow_infinity=False)
ids = st.integers(min_value=0, max_value=2**63 - 1)
tag_lists = st.lists(st.tuples(st.text(), st.text()), max_size=4).map(tuple)
records = st.builds(Record, texts, times, texts, texts, st.booleans(), ids)


@given(records, texts, tag_lists)
def test_any_said_line_round_trips(
    record: Record, shown: str, tags: tuple[tuple[str, str], ...]
) -> None:
    said = Said(record, shown, tags)
    assert load_event(through_json(dump_event(said))) == said


@given(records, texts)
def test_any_record_round_trips_as_a_history_line(record: Record, shown: str) -> None:
    line = HistoryLine(record, shown)
    assert load_event(through_json(dump_event(line))) == line
    assert load(Record, through_json(dump(record))) == record


@given(texts, texts, times, ids)
def test_any_private_message_round_trips(sender: str, text: str, time: float, id: int) -> None:
    private = Private(sender, text, time, id)
    assert load_event(through_json(dump_event(private))) == private


@given(
    st.integers(min_value=1, max_value=2**63 - 1),
    texts,
    st.lists(st.tuples(texts, texts), max_size=4).map(tuple),
    st.none() | texts,
)
def test_any_session_state_round_trips(
    id: int, name: str, rooms: tuple[tuple[str, str], ...], away: str | None
) -> None:
    state = SessionState(id, name, name.casefold(), rooms, rooms[-1][0] if rooms else "", away)
    assert load_state(dump_state(state)) == state


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(),
    st.lists,
    max_leaves=8,
)


@given(JUNK)
def test_arbitrary_json_junk_is_an_event_or_bad_entry(junk: Any) -> None:
    """Never any other exception: what is read is either an event or refused."""
    for value in (junk, ["Said", junk], ["Hello", junk], ["Left", junk], ["Online", junk]):
        try:
            event = load_event(value)
        except BadEntry:
            continue
        assert type(event) in EVENTS.values()
