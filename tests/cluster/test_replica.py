"""The hub of one node (node 1) over the cluster's directory, applying what other
nodes decided: departures, private messages, ignores, accounts, bans and mutes;
and the degraded gate while the cluster cannot be reached."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from asyncchat.cluster.directory import NODE_SHIFT, ClusterDirectory, SessionState, node_of
from asyncchat.config import ServerConfig
from asyncchat.core.accounts import Account
from asyncchat.core.commands import (
    Act,
    Command,
    Help,
    Ignore,
    Join,
    Ping,
    Quit,
    Register,
    Reply,
    Say,
    Whisper,
)
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    ToEveryone,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    AskName,
    AskPassword,
    Bye,
    Error,
    ErrorCode,
    Event,
    Hello,
    HelpText,
    Joined,
    LeaveReason,
    Left,
    Pong,
    Private,
    PrivateSent,
    Removed,
    Said,
    Welcome,
)
from asyncchat.core.hub import Hub
from asyncchat.core.moderation import Ban, BanKind, Mute
from asyncchat.core.names import Name, name_key
from asyncchat.core.registry import Session, State

NODE = 1
NOW = 1_000_000.0
NOT_SENT = "the chat is degraded; your message was not sent"
NO_NAME = "the chat is degraded; no name can be given now, try again in a moment"


def remote_id(node: int, n: int) -> int:
    return (node << NODE_SHIFT) + n


@dataclass
class Node:
    """A hub over a ClusterDirectory, with its sessions by name."""

    hub: Hub[str]
    directory: ClusterDirectory[str]
    sessions: dict[str, Session[str]] = field(default_factory=dict)

    def connect(self, peer: str, host: str | None = "192.0.2.1") -> Session[str]:
        session, greeting = self.hub.connect(peer, host)
        assert greeting == [Delivery(Welcome(), ToSession(session.id))]
        self.sessions[peer] = session
        return session

    def join(self, name: str, host: str | None = "192.0.2.1") -> Session[str]:
        """Connect and take `name` (the edge's claim answered by this directory)."""
        session = self.connect(name, host)
        (claim,) = self.hub.handle(session, Register(name))
        assert isinstance(claim, ClaimName)
        holder = self.directory.claim(Name(claim.display, claim.key))
        effects = self.hub.claimed(claim, holder)
        assert isinstance(effects[0], Delivery)
        assert isinstance(effects[0].event, Hello)
        assert session.state is State.CHATTING
        return session

    def remote(
        self, node: int, n: int, name: str, *rooms: str, host: str | None = None
    ) -> Session[str]:
        """Another node's session, as its published state makes it here."""
        pairs = tuple((name_key(room), room) for room in rooms)
        current = pairs[-1][0] if pairs else ""
        state = SessionState(remote_id(node, n), name, name_key(name), pairs, current, None, host)
        session, _ = self.directory.upsert(state)
        return session

    def handle(self, session: Session[str], command: Command) -> list[Effect]:
        return self.hub.handle(session, command)


@pytest.fixture
def node() -> Node:
    directory: ClusterDirectory[str] = ClusterDirectory(NODE, "<remote>")
    hub: Hub[str] = Hub(
        ServerConfig(),
        directory=directory,
        first_id=NODE << NODE_SHIFT,
        shared_history=True,
        clock=lambda: NOW,
    )
    return Node(hub, directory)


def events_to(node: Node, session: Session[str], effects: list[Effect]) -> list[Event]:
    """What one local session receives, resolved as the edge does (local members only)."""
    got: list[Event] = []
    for effect in effects:
        if not isinstance(effect, Delivery):
            continue
        match effect.to:
            case ToRoom(key, exclude, skip):
                members = node.hub.members(key)
                hit = session in members and session.id != exclude and session.id not in skip
            case ToRooms(keys):
                hit = any(session in node.hub.members(key) for key in keys)
            case ToSession(id):
                hit = id == session.id
            case ToSessions(ids):
                hit = session.id in ids
            case ToEveryone():
                hit = session.state is State.CHATTING
        if hit:
            got.append(effect.event)
    return got


# The hub over a cluster directory.


def test_sessions_here_get_ids_of_this_node(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    assert node_of(alice.id) == NODE
    assert carol.id == alice.id + 1
    assert node.directory.is_local(alice)


def test_a_newcomer_here_sees_and_counts_everyone_but_only_locals_are_told(
    node: Node,
) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    carol = node.connect("Carol")
    (claim,) = node.handle(carol, Register("Carol"))
    assert isinstance(claim, ClaimName)
    effects = node.hub.claimed(claim, node.directory.claim(Name(claim.display, claim.key)))
    assert events_to(node, carol, effects)[0] == Hello("Carol", ("Alice", "Bob", "Carol"))
    assert events_to(node, alice, effects) == [Joined("Carol", 3, room="lobby")]
    assert node.hub.online == 3
    assert node.hub.connections == 2
    assert bob not in node.hub.members("lobby")


def test_a_local_line_is_addressed_to_the_room_for_every_node(node: Node) -> None:
    alice = node.join("Alice")
    node.remote(2, 1, "Bob", "lobby")
    (said,) = node.handle(alice, Say("hello"))
    assert isinstance(said, Delivery)
    assert said.to == ToRoom("lobby", exclude=alice.id)
    assert isinstance(said.event, Said)
    assert said.event.record.id == (NODE << NODE_SHIFT) + 1
    assert node.hub.history.recent("lobby") == ()  # shared: fed in the cluster's order


def test_a_whisper_to_a_mirror_is_addressed_to_its_id(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    effects = node.handle(alice, Whisper("bob", "psst"))
    private = effects[0]
    assert isinstance(private, Delivery)
    assert private.to == ToSession(bob.id)
    assert isinstance(private.event, Private)
    assert (private.event.sender, private.event.text) == ("Alice", "psst")
    assert events_to(node, alice, effects) == [PrivateSent("Bob", "psst")]


# departed


def test_a_departed_mirror_leaves_its_room_for_node_lost(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    node.directory.drain()
    effects = node.hub.departed([bob], LeaveReason.NODE_LOST)
    assert effects == [
        Delivery(Left("Bob", LeaveReason.NODE_LOST, None, "lobby"), ToRooms(("lobby",)))
    ]
    assert events_to(node, alice, effects) == [Left("Bob", LeaveReason.NODE_LOST, None, "lobby")]
    assert bob.state is State.GONE
    assert node.directory.get("bob") is None
    assert node.directory.remote(bob.id) is None
    assert node.hub.find("Bob") is None
    assert node.directory.head_count("lobby") == 1
    assert node.directory.names("lobby") == ("Alice",)
    assert node.directory.sessions_of(2) == []
    assert node.directory.nodes() == set()
    assert not node.directory.drain()  # nothing here is published again


def test_a_mirror_in_several_rooms_leaves_them_all_at_once(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    node.handle(carol, Join("Dev"))
    bob = node.remote(2, 1, "Bob", "lobby", "Dev", "Far")
    effects = node.hub.departed([bob], LeaveReason.NODE_LOST)
    assert effects == [
        Delivery(Left("Bob", LeaveReason.NODE_LOST, None, ""), ToRooms(("lobby", "dev", "far")))
    ]
    assert events_to(node, alice, effects) == [Left("Bob", LeaveReason.NODE_LOST)]
    assert events_to(node, carol, effects) == [Left("Bob", LeaveReason.NODE_LOST)]
    assert not node.directory.has_room("far")  # it had no one else
    assert node.directory.head_count("dev") == 1


def test_several_departed_each_leave_and_a_roomless_one_says_nothing(node: Node) -> None:
    node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    bea = node.remote(2, 2, "Bea")
    cy = node.remote(3, 1, "Cy", "lobby")
    effects = node.hub.departed(node.directory.sessions_of(2), LeaveReason.SHUTDOWN)
    assert effects == [
        Delivery(Left("Bob", LeaveReason.SHUTDOWN, None, "lobby"), ToRooms(("lobby",)))
    ]
    assert bob.state is State.GONE
    assert bea.state is State.GONE
    assert node.directory.get("bea") is None
    assert node.directory.sessions_of(3) == [cy]
    assert node.directory.names("lobby") == ("Alice", "Cy")


def test_a_departed_mirror_ignoring_no_one_leaves_local_ignores_alone(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    node.handle(alice, Ignore("Bob"))
    node.hub.departed([bob], LeaveReason.NODE_LOST)
    assert node.hub.ignorers_of("bob") == frozenset({alice.id})  # kept by name, as ever


# drop


def test_a_local_session_removed_elsewhere_is_forgotten_here(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    node.directory.drain()
    node.hub.drop(alice)
    assert alice.state is State.GONE
    assert node.hub.session(alice.id) is None
    assert node.directory.get("alice") is None
    assert list(node.hub.members("lobby")) == [carol]
    assert node.hub.connections == 1
    changes = node.directory.drain()
    assert [s.key for s in changes.gone] == ["alice"]  # its name is released
    assert changes.states == []


# private messages from other nodes


def test_a_private_message_from_elsewhere_sets_reply_to(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    assert node.hub.private_arrived(alice, bob.id, "bob", "Bob") is True
    assert alice.reply_to == (bob.id, "Bob")
    assert bob.id in alice.correspondents
    effects = node.handle(alice, Reply("hi back"))
    private = effects[0]
    assert isinstance(private, Delivery)
    assert private.to == ToSession(bob.id)
    assert isinstance(private.event, Private)
    assert private.event.text == "hi back"


def test_a_private_message_from_someone_ignored_is_refused(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    node.handle(alice, Ignore("bob"))
    assert node.hub.private_arrived(alice, bob.id, "bob", "Bob") is False
    assert alice.reply_to is None
    assert alice.correspondents == {}
    carol = node.remote(2, 2, "Carol", "lobby")
    assert node.hub.private_arrived(alice, carol.id, "carol", "Carol") is True
    assert alice.reply_to == (carol.id, "Carol")


def test_a_reply_to_a_departed_mirror_says_they_left(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    node.hub.private_arrived(alice, bob.id, "bob", "Bob")
    node.hub.departed([bob], LeaveReason.NODE_LOST)
    assert node.handle(alice, Reply("anyone?")) == [
        Delivery(
            Error(ErrorCode.NO_SUCH_USER, "Bob has left; nothing was sent"), ToSession(alice.id)
        )
    ]


# ignores


def test_ignorers_of_a_name_are_the_sessions_here_ignoring_it(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    dave = node.join("Dave")
    node.remote(2, 1, "Bob", "lobby")
    assert node.hub.ignorers_of("bob") == frozenset()
    node.handle(alice, Ignore("Bob"))
    node.handle(carol, Ignore("BOB"))
    assert node.hub.ignorers_of("bob") == frozenset({alice.id, carol.id})
    assert dave.id not in node.hub.ignorers_of("bob")
    assert node.hub.ignorers_of("nobody") == frozenset()


def test_ignores_follow_a_rename_elsewhere(node: Node) -> None:
    alice = node.join("Alice")
    node.remote(2, 1, "Bob", "lobby")
    node.handle(alice, Ignore("Bob"))
    renamed = SessionState(remote_id(2, 1), "Robert", "robert", (("lobby", "lobby"),), "lobby")
    _, old_key = node.directory.upsert(renamed)
    assert old_key == "bob"
    node.hub.renamed_elsewhere(old_key, renamed.key, renamed.name)
    assert node.hub.ignorers_of("robert") == frozenset({alice.id})
    assert node.hub.ignorers_of("bob") == frozenset()
    assert node.hub.private_arrived(alice, remote_id(2, 1), "robert", "Robert") is False


def test_a_rename_elsewhere_of_someone_nobody_ignores_changes_nothing(node: Node) -> None:
    alice = node.join("Alice")
    node.remote(2, 2, "Cy", "lobby")
    node.handle(alice, Ignore("Cy"))
    node.hub.renamed_elsewhere("bob", "robert", "Robert")  # no KeyError
    assert node.hub.ignorers_of("robert") == frozenset()
    assert node.hub.ignorers_of("cy") == frozenset({alice.id})


# accounts


def test_an_account_saved_elsewhere_guards_its_name_here(node: Node) -> None:
    account = Account("Zoë", "zoë", "secret-hash", 5.0)
    node.hub.account_saved(account)
    assert node.hub.accounts.get("zoë") is account
    newcomer = node.connect("someone")
    assert node.handle(newcomer, Register("ZOË")) == [
        Delivery(AskPassword("Zoë"), ToSession(newcomer.id))
    ]


def test_an_account_dropped_elsewhere_signs_out_sessions_here(node: Node) -> None:
    zoe = node.join("Zoe")
    other = node.join("Other")
    node.hub.account_saved(Account("Zoe", "zoe", "h"))
    node.hub.account_saved(Account("Other", "other", "h"))
    zoe.account, other.account = "zoe", "other"
    node.hub.account_dropped("zoe")
    assert zoe.account is None
    assert other.account == "other"
    assert node.hub.accounts.get("zoe") is None
    assert node.hub.accounts.get("other") is not None
    node.hub.account_dropped("never-registered")  # no KeyError
    assert other.account == "other"


# bans


def test_a_name_ban_elsewhere_removes_its_holder_here(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    ban = Ban(BanKind.NAME, "alice", "Alice", "Op", "spam", NOW - 1)
    effects = node.hub.ban_saved(ban)
    assert effects == [
        Delivery(Removed(LeaveReason.BANNED, "Op", "spam"), ToSession(alice.id)),
        Delivery(Left("Alice", LeaveReason.BANNED, "Op: spam", "lobby"), ToRooms(("lobby",))),
        Close(alice.id),
    ]
    assert events_to(node, carol, effects) == [
        Left("Alice", LeaveReason.BANNED, "Op: spam", "lobby")
    ]
    assert alice.state is State.GONE
    assert node.hub.session(alice.id) is None
    assert node.directory.get("alice") is None
    assert node.hub.bans.for_name("alice", NOW) == ban
    assert [s.key for s in node.directory.drain().gone] == ["alice"]


def test_a_name_ban_without_a_reason_names_only_the_operator(node: Node) -> None:
    alice = node.join("Alice")
    effects = node.hub.ban_saved(Ban(BanKind.NAME, "alice", "Alice", "Op"))
    assert effects[0] == Delivery(Removed(LeaveReason.BANNED, "Op", None), ToSession(alice.id))
    assert effects[1] == Delivery(
        Left("Alice", LeaveReason.BANNED, "Op", "lobby"), ToRooms(("lobby",))
    )


def test_a_name_ban_elsewhere_leaves_a_remote_holder_to_its_node(node: Node) -> None:
    alice = node.join("Alice")
    bob = node.remote(2, 1, "Bob", "lobby")
    ban = Ban(BanKind.NAME, "bob", "Bob", "Op")
    assert node.hub.ban_saved(ban) == []
    assert bob.state is State.CHATTING
    assert node.directory.get("bob") is bob
    assert node.directory.names("lobby") == ("Alice", "Bob")
    assert node.hub.bans.for_name("bob", NOW) == ban
    newcomer = node.connect("x")
    refused = node.handle(newcomer, Register("Bob"))
    assert refused == [
        Delivery(Error(ErrorCode.BANNED, "you are banned"), ToSession(newcomer.id)),
        Close(newcomer.id),
    ]
    assert alice.state is State.CHATTING


def test_a_name_ban_for_no_one_online_removes_no_one(node: Node) -> None:
    node.join("Alice")
    assert node.hub.ban_saved(Ban(BanKind.NAME, "zed", "Zed", "Op")) == []
    assert node.hub.connections == 1


def test_a_network_ban_elsewhere_removes_the_sessions_here_it_covers(node: Node) -> None:
    alice = node.join("Alice", host="10.1.2.3")
    carol = node.join("Carol", host="192.168.0.7")
    naming = node.connect("naming", host="10.9.9.9")
    v6 = node.join("Six", host="2001:db8::5")
    bob = node.remote(2, 1, "Bob", "lobby", host="10.4.4.4")
    ban = Ban(BanKind.NETWORK, "10.0.0.0/8", "10.0.0.0/8", "Op", "abuse")
    effects = node.hub.ban_saved(ban)
    removed = Removed(LeaveReason.BANNED, "Op", "abuse")
    assert effects == [
        Delivery(removed, ToSession(alice.id)),
        Delivery(Left("Alice", LeaveReason.BANNED, "Op: abuse", "lobby"), ToRooms(("lobby",))),
        Close(alice.id),
        Delivery(removed, ToSession(naming.id)),  # unnamed: no room to tell
        Close(naming.id),
    ]
    assert alice.state is State.GONE
    assert naming.state is State.GONE
    assert carol.state is State.CHATTING
    assert v6.state is State.CHATTING
    assert bob.state is State.CHATTING  # its own node removes it
    assert node.directory.get("bob") is bob
    assert isinstance(node.hub.admit("10.200.0.1"), Error)
    assert not isinstance(node.hub.admit("11.0.0.1"), Error)


def test_an_ipv6_network_ban_covers_ipv6_hosts_only(node: Node) -> None:
    v4 = node.join("Four", host="10.0.0.1")
    v6 = node.join("Six", host="2001:db8::5")
    effects = node.hub.ban_saved(Ban(BanKind.NETWORK, "2001:db8::/32", "2001:db8::/32", "Op"))
    assert [e for e in effects if isinstance(e, Close)] == [Close(v6.id)]
    assert v4.state is State.CHATTING


def test_a_ban_dropped_elsewhere_admits_again(node: Node) -> None:
    ban = Ban(BanKind.NETWORK, "10.0.0.0/8", "10.0.0.0/8", "Op")
    node.hub.ban_saved(ban)
    refused = node.hub.admit("10.0.0.1")
    assert refused == Error(ErrorCode.BANNED, "you are banned")
    node.hub.ban_dropped(ban)
    assert not isinstance(node.hub.admit("10.0.0.1"), Error)
    name_ban = Ban(BanKind.NAME, "bob", "Bob", "Op")
    node.hub.ban_saved(name_ban)
    node.hub.ban_dropped(name_ban)
    assert node.hub.bans.for_name("bob", NOW) is None
    assert len(node.hub.bans) == 0


# mutes


def test_a_mute_elsewhere_silences_a_user_here(node: Node) -> None:
    alice = node.join("Alice")
    carol = node.join("Carol")
    node.hub.mute_saved(Mute("alice", "Alice", "Op", NOW - 10))
    assert node.handle(alice, Say("hello")) == [
        Delivery(Error(ErrorCode.MUTED, "you are muted"), ToSession(alice.id))
    ]
    assert node.handle(alice, Act("waves")) == [
        Delivery(Error(ErrorCode.MUTED, "you are muted"), ToSession(alice.id))
    ]
    (said,) = node.handle(carol, Say("still here"))
    assert isinstance(said, Delivery)
    assert isinstance(said.event, Said)
    node.hub.mute_dropped("alice")
    (said,) = node.handle(alice, Say("free again"))
    assert isinstance(said, Delivery)
    assert isinstance(said.event, Said)


def test_an_expired_mute_silences_no_one(node: Node) -> None:
    alice = node.join("Alice")
    node.hub.mute_saved(Mute("alice", "Alice", "Op", NOW - 120, NOW - 60))
    (said,) = node.handle(alice, Say("hello"))
    assert isinstance(said, Delivery)
    assert isinstance(said.event, Said)


def test_a_muted_user_quits_without_a_message(node: Node) -> None:
    alice = node.join("Alice")
    node.hub.mute_saved(Mute("alice", "Alice", "Op"))
    effects = node.handle(alice, Quit("a public parting shot"))
    assert Delivery(Left("Alice", LeaveReason.QUIT, None, "lobby"), ToRooms(("lobby",))) in effects


# degraded


def test_degraded_refuses_a_line_with_its_own_error(node: Node) -> None:
    alice = node.join("Alice")
    node.hub.degraded = True
    refused = [Delivery(Error(ErrorCode.DEGRADED, NOT_SENT), ToSession(alice.id))]
    assert node.handle(alice, Say("hello")) == refused
    assert node.handle(alice, Act("waves")) == refused
    assert node.handle(alice, Whisper("Alice", "x")) == refused
    assert node.handle(alice, Join("elsewhere")) == refused
    assert list(alice.rooms) == ["lobby"]
    node.hub.degraded = False
    (said,) = node.handle(alice, Say("hello"))
    assert isinstance(said, Delivery)
    assert isinstance(said.event, Said)


def test_degraded_still_answers_what_a_node_answers_alone(node: Node) -> None:
    alice = node.join("Alice")
    node.hub.degraded = True
    assert node.handle(alice, Ping("t")) == [Delivery(Pong("t"), ToSession(alice.id))]
    assert node.handle(alice, Help()) == [Delivery(HelpText(None, False), ToSession(alice.id))]
    effects = node.handle(alice, Quit(None))
    assert effects[0] == Delivery(Bye("Alice"), ToSession(alice.id))
    assert effects[-1] == Close(alice.id)
    assert alice.state is State.GONE


def test_degraded_gives_no_name_and_asks_again(node: Node) -> None:
    node.hub.degraded = True
    naming = node.connect("newcomer")
    assert node.handle(naming, Register("Newcomer")) == [
        Delivery(Error(ErrorCode.DEGRADED, NO_NAME), ToSession(naming.id)),
        Delivery(AskName(), ToSession(naming.id)),
    ]
    assert naming.state is State.NAMING
    assert node.directory.get("newcomer") is None
    node.hub.degraded = False
    (claim,) = node.handle(naming, Register("Newcomer"))
    assert claim == ClaimName(naming.id, "Newcomer", "newcomer")
