"""The cluster's directory, alone: this node's sessions, mirrors of the others' kept
from the states they publish, and the changes to publish in turn."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncchat.cluster.directory import (
    NODE_SHIFT,
    Changes,
    ClusterDirectory,
    SessionState,
    node_of,
)
from asyncchat.core.names import Name, parse_name, parse_room
from asyncchat.core.registry import Session, State

NODE = 1
REMOTE_PEER = "<remote>"
LOBBY = Name("lobby", "lobby")
DEV = Name("Dev", "dev")


def local_id(n: int) -> int:
    return (NODE << NODE_SHIFT) + n


def remote_id(node: int, n: int) -> int:
    return (node << NODE_SHIFT) + n


@pytest.fixture
def directory() -> ClusterDirectory[str]:
    return ClusterDirectory(NODE, REMOTE_PEER)


def local(
    directory: ClusterDirectory[str],
    name: str,
    n: int,
    room: Name | None = LOBBY,
    host: str | None = None,
) -> Session[str]:
    """A session of this node, named as the hub names it."""
    session = Session(name, local_id(n))
    session.host = host
    directory.add(session, parse_name(name), room)
    session.state = State.CHATTING
    return session


def state(
    id: int,
    name: str,
    *rooms: str,
    room: str | None = None,
    away: str | None = None,
    host: str | None = None,
) -> SessionState:
    """Another node's published state, in these rooms (shown names; keys follow)."""
    pairs = tuple((parse_room(r).key, parse_room(r).display) for r in rooms)
    current = room if room is not None else (pairs[-1][0] if pairs else "")
    return SessionState(id, name, parse_name(name).key, pairs, current, away, host)


def forget(directory: ClusterDirectory[str], session: Session[str]) -> None:
    """Remove a session as its own node's news does: a local one as the hub does (it
    is GONE right after), another node's as the mirror does (GONE first)."""
    if directory.is_local(session):
        directory.remove(session)
        session.state = State.GONE
    else:
        session.state = State.GONE
        directory.remove(session)


def test_a_mirror_removed_by_this_node_s_decision_is_published_as_evicted(
    directory: ClusterDirectory[str],
) -> None:
    """A kick, a ban or a ghost taken over: the hub removes the session while it is
    still CHATTING; its own node must drop it too."""
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    directory.remove(bob)
    changes = directory.drain()
    assert changes.evicted == [bob.id]
    assert changes.gone == []
    assert directory.remote(bob.id) is None


def test_a_node_number_is_in_the_high_bits_of_an_id() -> None:
    assert node_of(remote_id(3, 5)) == 3
    assert node_of(5) == 0
    assert node_of((1 << NODE_SHIFT) - 1) == 0
    assert node_of(1 << NODE_SHIFT) == 1
    assert node_of(remote_id(70_000, 2**32 - 1)) == 70_000


def test_local_and_remote_sessions_are_told_apart_by_their_ids(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1)
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    assert directory.is_local(alice)
    assert not directory.is_local(bob)
    assert directory.remote(bob.id) is bob
    assert directory.remote(alice.id) is None  # only others' sessions are mirrors
    assert list(directory.local_sessions()) == [alice]


def test_a_mirror_is_named_chatting_and_has_the_placeholder_peer(
    directory: ClusterDirectory[str],
) -> None:
    bob, old = directory.upsert(state(remote_id(2, 1), "Bob", "lobby", host="10.0.0.9"))
    assert old is None
    assert bob.peer == REMOTE_PEER
    assert bob.state is State.CHATTING
    assert (bob.name, bob.key, bob.host) == ("Bob", "bob", "10.0.0.9")
    assert directory.get("bob") is bob
    assert directory.claim(Name("BOB", "bob")) == "Bob"
    assert len(directory) == 1


def test_members_are_local_but_counts_names_and_away_are_everyone(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1)
    local(directory, "Carol", 2, DEV)
    directory.upsert(state(remote_id(2, 1), "Bob", "lobby", away="lunch"))
    directory.upsert(state(remote_id(3, 1), "dave", "lobby", "Dev"))
    directory.set_away(alice, "brb")
    assert list(directory.members("lobby")) == [alice]
    assert [s.name for s in directory.members("dev")] == ["Carol"]
    assert directory.head_count("lobby") == 3
    assert directory.head_count("dev") == 2
    assert directory.names("lobby") == ("Alice", "Bob", "dave")
    assert directory.names("dev") == ("Carol", "dave")
    assert directory.away("lobby") == frozenset({"Alice", "Bob"})
    assert directory.away("dev") == frozenset()
    assert directory.rooms() == (("Dev", 2), ("lobby", 3))
    assert {s.name for s in directory.members_everywhere("lobby")} == {"Alice", "Bob", "dave"}
    assert len(directory) == 4


def test_a_room_with_only_mirrors_is_counted_but_has_no_members(
    directory: ClusterDirectory[str],
) -> None:
    directory.upsert(state(remote_id(2, 1), "Bob", "Far"))
    assert directory.has_room("far")
    assert directory.room_name("far") == "Far"
    assert list(directory.members("far")) == []
    assert directory.head_count("far") == 1
    assert directory.rooms() == (("Far", 1),)
    assert directory.room_count() == 1


def test_unknown_rooms_are_empty(directory: ClusterDirectory[str]) -> None:
    assert directory.head_count("nowhere") == 0
    assert directory.away("nowhere") == frozenset()
    assert directory.names("nowhere") == ()
    assert directory.members("nowhere") == ()
    assert directory.members_everywhere("nowhere") == ()
    assert directory.rooms() == ()


def test_upserting_the_same_state_twice_changes_nothing(
    directory: ClusterDirectory[str],
) -> None:
    published = state(remote_id(2, 1), "Bob", "lobby", "Dev", away="x")
    bob, _ = directory.upsert(published)
    again, old = directory.upsert(published)
    assert again is bob
    assert old is None
    assert directory.head_count("lobby") == 1
    assert directory.names("dev") == ("Bob",)
    assert list(bob.rooms) == ["lobby", "dev"]


def test_an_upsert_renames_and_returns_the_old_key(directory: ClusterDirectory[str]) -> None:
    local(directory, "Alice", 1)
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby", "Dev"))
    renamed, old = directory.upsert(state(remote_id(2, 1), "Robert", "lobby", "Dev"))
    assert renamed is bob
    assert old == "bob"
    assert directory.get("bob") is None
    assert directory.get("robert") is bob
    assert directory.claim(Name("Bob", "bob")) is None
    assert directory.names("lobby") == ("Alice", "Robert")
    assert directory.names("dev") == ("Robert",)
    assert len(directory) == 2


def test_a_change_of_case_renames_but_returns_no_old_key(
    directory: ClusterDirectory[str],
) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    _, old = directory.upsert(state(remote_id(2, 1), "BOB", "lobby"))
    assert old is None  # the key is the same: nothing to release or follow
    assert bob.name == "BOB"
    assert directory.get("bob") is bob
    assert directory.names("lobby") == ("BOB",)


def test_an_upsert_moves_a_mirror_between_rooms(directory: ClusterDirectory[str]) -> None:
    alice = local(directory, "Alice", 1)
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby", "Dev"))
    assert bob.room == "dev"
    directory.upsert(state(remote_id(2, 1), "Bob", "Dev", "Games"))
    assert list(bob.rooms) == ["dev", "games"]
    assert bob.room == "games"
    assert directory.names("lobby") == ("Alice",)
    assert directory.head_count("lobby") == 1
    assert directory.names("games") == ("Bob",)
    assert directory.room_name("games") == "Games"
    directory.upsert(state(remote_id(2, 1), "Bob", "Dev", "Games", room="dev"))
    assert bob.room == "dev"  # the current room follows the state
    directory.upsert(state(remote_id(2, 1), "Bob"))
    assert bob.rooms == {}
    assert bob.room == ""
    assert not directory.has_room("dev")
    assert not directory.has_room("games")
    assert directory.get("bob") is bob  # in no room, still online
    assert list(directory.members("lobby")) == [alice]


def test_a_current_room_not_among_the_rooms_is_ignored(
    directory: ClusterDirectory[str],
) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby", "Dev", room="dev"))
    directory.upsert(state(remote_id(2, 1), "Bob", "lobby", "Dev", room="nowhere"))
    assert bob.room == "dev"


def test_an_upsert_sets_and_clears_away(directory: ClusterDirectory[str]) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    assert bob.away is None
    directory.upsert(state(remote_id(2, 1), "Bob", "lobby", away="gone fishing"))
    assert bob.away == "gone fishing"
    assert directory.away("lobby") == frozenset({"Bob"})
    directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    assert bob.away is None
    assert directory.away("lobby") == frozenset()


def test_mirrors_change_nothing_to_publish(directory: ClusterDirectory[str]) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    directory.upsert(state(remote_id(2, 1), "Robert", "Dev", away="x"))
    forget(directory, bob)
    assert not directory.drain()


def test_a_local_session_takes_a_name_from_a_stale_mirror(
    directory: ClusterDirectory[str],
) -> None:
    """Redis gave the name away before the mirror's rename or departure arrived."""
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    mine = local(directory, "Bob", 1)  # no KeyError
    assert directory.get("bob") is mine
    assert directory.claim(Name("Bob", "bob")) == "Bob"
    assert directory.remote(bob.id) is bob  # the mirror keeps its place in its rooms
    assert directory.head_count("lobby") == 2
    assert directory.names("lobby") == ("Bob", "Bob")
    assert len(directory) == 1
    # Its rename or departure arrives: the local holder keeps its name.
    directory.upsert(state(remote_id(2, 1), "Robert", "lobby"))
    assert directory.get("bob") is mine
    assert directory.get("robert") is bob
    assert directory.names("lobby") == ("Bob", "Robert")
    forget(directory, bob)
    assert directory.get("bob") is mine
    assert directory.names("lobby") == ("Bob",)
    assert len(directory) == 1


def test_a_stale_mirror_that_departs_unrenamed_leaves_the_new_holder_alone(
    directory: ClusterDirectory[str],
) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby", "Dev"))
    mine = local(directory, "Bob", 1)
    forget(directory, bob)
    assert directory.get("bob") is mine
    assert directory.claim(Name("Bob", "bob")) == "Bob"
    assert directory.names("lobby") == ("Bob",)
    assert not directory.has_room("dev")
    forget(directory, mine)
    assert directory.get("bob") is None
    assert directory.rooms() == ()


def test_a_look_alike_takes_only_the_look_entry_of_a_stale_mirror(
    directory: ClusterDirectory[str],
) -> None:
    """Entries are overwritten only where they collide: the mirror keeps its key's."""
    mary, _ = directory.upsert(state(remote_id(2, 1), "mary", "lobby"))
    assert Name("rnary", "rnary").skeleton == Name("mary", "mary").skeleton
    mine = local(directory, "rnary", 1)
    cyrillic = Name("rn\u0430ry", "rn\u0430ry")  # a third key with the same look
    assert cyrillic.skeleton == Name("mary", "mary").skeleton
    assert directory.get("mary") is mary
    assert directory.get("rnary") is mine
    assert directory.claim(Name("mary", "mary")) == "mary"
    assert directory.claim(cyrillic) == "rnary"  # the look is the local session's
    forget(directory, mary)  # no KeyError
    assert directory.get("mary") is None
    assert directory.claim(Name("mary", "mary")) == "rnary"
    assert directory.claim(cyrillic) == "rnary"
    forget(directory, mine)
    assert directory.claim(Name("mary", "mary")) is None
    assert directory.claim(cyrillic) is None


def test_a_local_holder_keeps_its_index_against_a_mirror(
    directory: ClusterDirectory[str],
) -> None:
    """Redis gave the name to this node's session: another node's state naming it
    too is the stale one, and the local holder stays the one found."""
    mine = local(directory, "Alice", 1)
    other, _ = directory.upsert(state(remote_id(2, 1), "Al", "lobby"))
    directory.upsert(state(remote_id(2, 1), "Alice", "lobby"))
    assert directory.get("alice") is mine
    assert directory.get("al") is None
    assert directory.names("lobby") == ("Alice", "Alice")
    assert directory.remote(other.id) is other
    newcomer, _ = directory.upsert(state(remote_id(3, 1), "ALICE", "lobby"))
    assert directory.get("alice") is mine
    assert directory.remote(newcomer.id) is newcomer
    forget(directory, mine)  # no KeyError
    assert directory.names("lobby") == ("ALICE", "Alice")


@pytest.mark.parametrize("how", ["created", "renamed"])
def test_a_mirror_is_found_by_its_name_once_the_local_holder_leaves(
    directory: ClusterDirectory[str], how: str
) -> None:
    """This node was cut off and Redis gave 'Alice' to another node's user: that
    user's state arrives (reload, or the log) before this node's Alice is closed
    (names_lost). After that, 'Alice' is the mirror, and must be found as such."""
    mine = local(directory, "Alice", 1)
    if how == "renamed":
        directory.upsert(state(remote_id(2, 1), "Al", "lobby"))
    other, _ = directory.upsert(state(remote_id(2, 1), "Alice", "lobby"))
    forget(directory, mine)
    directory.upsert(state(remote_id(2, 1), "Alice", "lobby"))  # its next state, unchanged
    assert directory.names("lobby") == ("Alice",)
    assert directory.get("alice") is other
    assert directory.claim(Name("Alice", "alice")) == "Alice"
    assert len(directory) == 1


def test_removing_a_local_session_records_its_last_state(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1, host="10.1.2.3")
    directory.enter(alice, DEV)
    directory.set_away(alice, "lunch")
    directory.drain()
    forget(directory, alice)
    changes = directory.drain()
    assert changes.gone == [
        SessionState(
            alice.id,
            "Alice",
            "alice",
            (("lobby", "lobby"), ("dev", "Dev")),
            "dev",
            "lunch",
            "10.1.2.3",
        )
    ]
    assert changes.states == []  # gone: no state of it is published
    assert directory.get("alice") is None
    assert directory.rooms() == ()
    assert len(directory) == 0


def test_removing_a_mirror_records_nothing(directory: ClusterDirectory[str]) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    forget(directory, bob)
    assert directory.drain().gone == []
    assert directory.remote(bob.id) is None
    assert directory.get("bob") is None
    assert directory.sessions_of(2) == []
    assert directory.nodes() == set()


def test_drain_gives_each_changed_session_once_as_it_is_now_and_clears(
    directory: ClusterDirectory[str],
) -> None:
    assert not directory.drain()
    alice = local(directory, "Alice", 1)
    carol = local(directory, "Carol", 2)
    directory.enter(alice, DEV)
    directory.set_away(alice, "away")
    directory.leave(alice, "lobby")
    changes = directory.drain()
    assert changes
    assert changes.states == [
        SessionState(alice.id, "Alice", "alice", (("dev", "Dev"),), "dev", "away"),
        SessionState(carol.id, "Carol", "carol", (("lobby", "lobby"),), "lobby"),
    ]
    assert (changes.gone, changes.renamed, changes.topics) == ([], [], {})
    again = directory.drain()
    assert not again
    assert again == Changes()
    directory.set_away(carol, None)
    assert [s.id for s in directory.drain().states] == [carol.id]


def test_a_drained_changes_object_is_not_touched_by_later_changes(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1)
    first = directory.drain()
    directory.set_topic("lobby", "later")
    forget(directory, alice)
    assert len(first.states) == 1
    assert first.topics == {}
    assert first.gone == []


def test_a_rename_records_the_old_state_and_publishes_the_new(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1)
    directory.drain()
    directory.rename(alice, Name("Alicia", "alicia"))
    changes = directory.drain()
    assert changes.renamed == [
        SessionState(alice.id, "Alice", "alice", (("lobby", "lobby"),), "lobby")
    ]
    assert [(s.name, s.key) for s in changes.states] == [("Alicia", "alicia")]
    assert directory.get("alice") is None
    assert directory.get("alicia") is alice
    assert directory.names("lobby") == ("Alicia",)


def test_renaming_twice_records_both_old_states(directory: ClusterDirectory[str]) -> None:
    alice = local(directory, "Alice", 1)
    directory.rename(alice, Name("B", "b"))
    directory.rename(alice, Name("C", "c"))
    changes = directory.drain()
    assert [s.key for s in changes.renamed] == ["alice", "b"]
    assert [s.key for s in changes.states] == ["c"]


def test_a_local_rename_onto_a_stale_mirror_does_not_raise(
    directory: ClusterDirectory[str],
) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    alice = local(directory, "Alice", 1)
    directory.rename(alice, Name("Bob", "bob"))
    assert directory.get("bob") is alice
    assert directory.remote(bob.id) is bob
    assert directory.names("lobby") == ("Bob", "Bob")


def test_only_a_local_topic_is_recorded(directory: ClusterDirectory[str]) -> None:
    local(directory, "Alice", 1, DEV)
    directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    directory.drain()
    directory.set_topic("dev", "ours")
    directory.apply_topic("lobby", "theirs")
    assert directory.topic("dev") == "ours"
    assert directory.topic("lobby") == "theirs"
    assert directory.drain().topics == {"dev": "ours"}
    directory.apply_topic("lobby", "")
    assert directory.topic("lobby") == ""
    assert not directory.drain()


def test_a_topic_for_a_room_gone_here_is_ignored(directory: ClusterDirectory[str]) -> None:
    directory.apply_topic("nowhere", "x")  # no KeyError
    assert not directory.has_room("nowhere")
    assert directory.topic("nowhere") == ""
    with pytest.raises(KeyError):
        directory.set_topic("nowhere", "x")  # a local /topic is always for a room one is in


def test_a_topic_goes_with_its_room(directory: ClusterDirectory[str]) -> None:
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "Dev"))
    directory.apply_topic("dev", "old")
    directory.upsert(state(remote_id(2, 1), "Bob"))
    directory.upsert(state(remote_id(2, 1), "Bob", "Dev"))
    assert directory.topic("dev") == ""
    assert bob.rooms == {"dev": None}


def test_sessions_of_a_node_and_the_nodes_known(directory: ClusterDirectory[str]) -> None:
    local(directory, "Alice", 1)
    b1, _ = directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
    b2, _ = directory.upsert(state(remote_id(2, 2), "Bea", "Dev"))
    c1, _ = directory.upsert(state(remote_id(3, 1), "Cy"))
    assert directory.nodes() == {2, 3}
    assert set(directory.sessions_of(2)) == {b1, b2}
    assert directory.sessions_of(3) == [c1]
    assert directory.sessions_of(NODE) == []  # this node's own are not mirrors
    assert directory.sessions_of(9) == []
    forget(directory, c1)
    assert directory.nodes() == {2}


@pytest.mark.parametrize("last", ["local", "remote"])
def test_a_room_goes_when_its_last_member_leaves_from_any_node(
    directory: ClusterDirectory[str], last: str
) -> None:
    alice = local(directory, "Alice", 1, DEV)
    bob, _ = directory.upsert(state(remote_id(2, 1), "Bob", "Dev"))
    if last == "local":
        directory.upsert(state(remote_id(2, 1), "Bob", "lobby"))
        assert directory.has_room("dev")
        assert directory.head_count("dev") == 1
        directory.leave(alice, "dev")
    else:
        directory.leave(alice, "dev")
        assert directory.has_room("dev")
        assert directory.names("dev") == ("Bob",)
        forget(directory, bob)
    assert not directory.has_room("dev")
    assert directory.head_count("dev") == 0
    assert "Dev" not in dict(directory.rooms())


def test_leaving_the_current_room_falls_back_to_the_last_entered(
    directory: ClusterDirectory[str],
) -> None:
    alice = local(directory, "Alice", 1)
    directory.enter(alice, DEV)
    directory.enter(alice, Name("Games", "games"))
    directory.enter(alice, DEV)  # already in it: it only becomes current
    assert list(alice.rooms) == ["lobby", "dev", "games"]
    assert alice.room == "dev"
    directory.leave(alice, "dev")
    assert alice.room == "games"
    assert directory.state_of(alice).rooms == (("lobby", "lobby"), ("games", "Games"))


def test_state_of_a_local_session(directory: ClusterDirectory[str]) -> None:
    alice = local(directory, "Alice", 1, host="2001:db8::1")
    directory.enter(alice, DEV)
    directory.set_away(alice, "afk")
    assert directory.state_of(alice) == SessionState(
        alice.id,
        "Alice",
        "alice",
        (("lobby", "lobby"), ("dev", "Dev")),
        "dev",
        "afk",
        "2001:db8::1",
    )


def test_a_local_session_added_without_a_room(directory: ClusterDirectory[str]) -> None:
    alice = local(directory, "Alice", 1, room=None)
    assert alice.rooms == {}
    assert directory.get("alice") is alice
    assert directory.rooms() == ()
    assert [s.rooms for s in directory.drain().states] == [()]


# A property: whatever other nodes publish, in any order, the rooms stay consistent.

NAMES = ["Ann", "Bob", "Cy", "Dee", "ann"]
ROOMS = ["lobby", "Dev", "Games"]
IDS = [remote_id(2, 1), remote_id(2, 2), remote_id(3, 1), remote_id(3, 2)]

Step = tuple[str, int, str, list[str], str | None]
"""(kind, id or local index, name or room, rooms, away)."""
NO_ROOMS: list[str] = []

upserts: st.SearchStrategy[Step] = st.tuples(
    st.just("upsert"),
    st.sampled_from(IDS),
    st.sampled_from(NAMES),
    st.lists(st.sampled_from(ROOMS), unique=True, max_size=3),
    st.none() | st.just("away"),
)
removals: st.SearchStrategy[Step] = st.tuples(
    st.just("remove"), st.sampled_from(IDS), st.just(""), st.just(NO_ROOMS), st.none()
)
local_moves: st.SearchStrategy[Step] = st.tuples(
    st.just("local"), st.sampled_from([0, 1]), st.sampled_from(ROOMS), st.just(NO_ROOMS), st.none()
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(upserts, removals, local_moves), max_size=30))
def test_rooms_stay_consistent_whatever_is_published(
    steps: list[Step],
) -> None:
    directory: ClusterDirectory[str] = ClusterDirectory(NODE, REMOTE_PEER)
    mine = [local(directory, "Me", 1), local(directory, "You", 2)]
    for kind, id, name, rooms, away in steps:
        if kind == "upsert":
            directory.upsert(state(id, name, *rooms, away=away))
        elif kind == "remove":
            found = directory.remote(id)
            if found is not None:
                forget(directory, found)
        else:  # a local session moves to a room
            session = mine[id]
            room = parse_room(name)
            for key in [key for key in session.rooms if key != room.key]:
                directory.leave(session, key)
            directory.enter(session, room)
    everyone = [*mine, *(s for node in directory.nodes() for s in directory.sessions_of(node))]
    for key in (parse_room(room).key for room in ROOMS):
        inside = [s for s in everyone if key in s.rooms]
        assert directory.has_room(key) == bool(inside)
        assert directory.head_count(key) == len(inside)
        assert sorted(directory.names(key)) == sorted(s.name for s in inside)
        assert list(directory.names(key)) == sorted(directory.names(key), key=str.casefold)
        assert set(directory.members(key)) == {s for s in inside if directory.is_local(s)}
        assert directory.away(key) == frozenset(s.name for s in inside if s.away is not None)
    for session in everyone:
        assert session.room in session.rooms or (session.room == "" and not session.rooms)
        holder = directory.get(session.key)
        assert holder is None or holder.key == session.key
    for session in mine:
        assert directory.get(session.key) is session  # mirrors never took a local name
    assert directory.nodes() <= {2, 3}
    changes = directory.drain()
    assert {s.id for s in changes.states} <= {s.id for s in mine}
    assert changes.gone == []
