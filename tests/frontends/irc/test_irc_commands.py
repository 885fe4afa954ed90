"""IRC commands one by one: registration, queries, capabilities, bad input and
limits. Real loopback sockets, a real server; every wait has a timeout, and
`IRC.sync()` (a PING answered after everything before it) is the only barrier."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from datetime import datetime
from pathlib import Path

import pytest
import trustme
from ircsupport import IRC, ask, summary
from support import TIMEOUT, Client, StartServer, issue

from asyncchat.edge.server import ChatServer
from asyncchat.frontends.irc.message import Message

SERVER = "irc.test"
TIME_TAG = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server(irc_port=0, server_name=SERVER)


def irc_port(server: ChatServer) -> int:
    return server.port_of("irc")


def stamped_now(message: Message) -> bool:
    """A server-time tag, within a minute of now."""
    stamp = message.tags.get("time", "")
    if not re.fullmatch(TIME_TAG, stamp):
        return False
    return abs(datetime.fromisoformat(stamp).timestamp() - time.time()) < 60


async def alice_and_bob(server: ChatServer, caps: str = "") -> tuple[IRC, Client]:
    """Bob on the line protocol, then Alice on IRC; both in #lobby, nothing pending."""
    bob = await Client.join(server.port, "Bob")
    alice = await IRC.register(irc_port(server), "Alice", caps=caps)
    assert await bob.line() == "*** Alice joined (2 online)"
    return alice, bob


async def register_account(server: ChatServer, name: str, password: str) -> None:
    """A line user registers `name` with /register, then quits: the name is free but owned."""
    owner = await Client.join(server.port, name)
    owner.send(f"/register {password}")
    assert await owner.line() == f"*** '{name}' is registered to you"
    owner.send("/quit")
    assert await owner.closed() == f"*** Bye {name}!\r\n".encode()


# Registration


@pytest.mark.parametrize(
    ("first", "second"),
    [("NICK Alice", "USER alice 0 * :Alice"), ("USER alice 0 * :Alice", "NICK Alice")],
    ids=["nick-first", "user-first"],
)
async def test_nick_and_user_register_in_either_order(
    server: ChatServer, first: str, second: str
) -> None:
    alice = await IRC.connect(irc_port(server))
    assert await ask(alice, first) == []  # half a registration: nothing yet
    alice.send(second)
    burst = await alice.until(lambda m: m.command == "366")
    assert summary(burst[:1]) == [
        ("001", "Alice", "Welcome to the asyncchat IRC network, Alice!Alice@asyncchat")
    ]
    assert burst[0].source == SERVER
    joined = next(m for m in burst if m.command == "JOIN")
    assert (joined.source, joined.params) == ("Alice!Alice@asyncchat", ("#lobby",))


async def test_cap_ls_holds_registration_until_cap_end(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    held = await ask(alice, "CAP LS 302", "NICK Alice", "USER alice 0 * :Alice")
    assert [(m.source, m.command, *m.params[:2]) for m in held] == [(SERVER, "CAP", "*", "LS")]
    offered = set(held[0].params[2].split())
    assert {"server-time", "echo-message", "batch", "message-tags"} <= offered
    alice.send("CAP END")
    burst = await alice.until(lambda m: m.command == "366")
    assert burst[0].command == "001"
    assert burst[0].params[0] == "Alice"


async def test_cap_req_acks_known_capabilities_and_naks_unknown_ones(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    await ask(alice, "CAP LS 302")
    replies = await ask(
        alice, "CAP REQ :server-time no-such-cap", "CAP REQ :server-time echo-message"
    )
    assert summary(replies) == [
        ("CAP", "*", "NAK", "server-time no-such-cap"),
        ("CAP", "*", "ACK", "server-time echo-message"),
    ]
    assert all(m.source == SERVER for m in replies)


async def test_cap_list_shows_what_is_enabled(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    assert summary(await ask(alice, "CAP LIST")) == [("CAP", "*", "LIST", "")]
    await ask(alice, "CAP REQ :server-time batch")
    assert summary(await ask(alice, "CAP LIST")) == [("CAP", "*", "LIST", "batch server-time")]
    await ask(alice, "CAP REQ :-batch")
    assert summary(await ask(alice, "CAP LIST")) == [("CAP", "*", "LIST", "server-time")]
    alice.send("NICK Alice", "USER alice 0 * :Alice", "CAP END")
    burst = await alice.until(lambda m: m.command == "366")
    assert burst[0].command == "001"


async def test_cap_after_registration_takes_effect_at_once(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    bob.send("before")
    before = await alice.message()
    assert (before.command, before.params, before.tags) == ("PRIVMSG", ("#lobby", "before"), {})
    listed = await ask(alice, "CAP LS 302")
    assert [(m.command, *m.params[:2]) for m in listed] == [("CAP", "Alice", "LS")]
    acked = await ask(alice, "CAP REQ :server-time")
    assert summary(acked) == [("CAP", "Alice", "ACK", "server-time")]
    bob.send("after")
    after = await alice.message()
    assert (after.command, after.params) == ("PRIVMSG", ("#lobby", "after"))
    assert stamped_now(after), after


async def test_commands_before_registration_get_451(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    stranger = await IRC.connect(irc_port(server))
    replies = await ask(stranger, "JOIN #games", "PRIVMSG #lobby :hello?", "WHO #lobby")
    assert summary(replies) == [("451", "*", "You have not registered")] * 3
    await bob.quiet()  # nothing reached the lobby


async def test_user_twice_and_pass_after_registration_get_462(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    replies = await ask(alice, "USER alice 0 * :Alice", "USER again 0 * :Again")
    assert summary(replies) == [("462", "*", "You may not reregister")]
    alice.send("NICK Alice")
    await alice.until(lambda m: m.command == "366")
    replies = await ask(alice, "PASS secret-words-1", "USER alice 0 * :Alice")
    assert summary(replies) == [("462", "Alice", "You may not reregister")] * 2


async def test_nick_without_a_parameter_gets_431(server: ChatServer) -> None:
    alice = await IRC.connect(irc_port(server))
    assert summary(await ask(alice, "NICK")) == [("431", "*", "No nickname given")]
    alice.send("NICK Alice", "USER alice 0 * :Alice")
    await alice.until(lambda m: m.command == "366")
    assert summary(await ask(alice, "NICK")) == [("431", "Alice", "No nickname given")]


@pytest.mark.parametrize(
    ("nick", "reason"),
    [
        ("123", "a name needs at least one letter"),
        ("al!ce", "a name may contain only letters, digits, '_', '-' and '.'"),
    ],
    ids=["digits-only", "exclamation-mark"],
)
async def test_an_invalid_nick_gets_432_with_the_reason(
    server: ChatServer, nick: str, reason: str
) -> None:
    alice = await IRC.connect(irc_port(server))
    replies = await ask(alice, f"NICK {nick}", "USER alice 0 * :Alice")
    assert summary(replies) == [("432", "*", nick, f"'{nick}' is not a valid name: {reason}")]
    alice.send("NICK Alice")
    burst = await alice.until(lambda m: m.command == "366")
    assert burst[0].params[0] == "Alice"


async def test_a_nick_a_line_user_holds_gets_433_and_another_nick_then_registers(
    server: ChatServer,
) -> None:
    bob = await Client.join(server.port, "Bob")
    other = await IRC.connect(irc_port(server))
    replies = await ask(other, "NICK bob", "USER bob 0 * :Bob")
    assert summary(replies) == [("433", "*", "bob", "the name 'bob' is taken")]
    other.send("NICK Bobby")
    burst = await other.until(lambda m: m.command == "366")
    assert burst[0].params[0] == "Bobby"
    assert await bob.line() == "*** Bobby joined (2 online)"


async def test_a_registered_name_without_pass_gets_433(server: ChatServer) -> None:
    await register_account(server, "Carol", "secret-words-1")
    carol = await IRC.connect(irc_port(server))
    replies = await ask(carol, "NICK Carol", "USER carol 0 * :Carol")
    assert summary(replies) == [
        ("433", "*", "Carol", "Nickname is registered: give its password with PASS")
    ]
    # The same connection may still give the password and take the name.
    carol.send("PASS secret-words-1", "NICK Carol")
    burst = await carol.until(lambda m: m.command == "366")
    assert burst[0].command == "001"
    assert burst[0].params[0] == "Carol"


async def test_a_registered_name_with_its_password_signs_in(server: ChatServer) -> None:
    await register_account(server, "Carol", "secret-words-1")
    bob = await Client.join(server.port, "Bob")
    carol = await IRC.register(irc_port(server), "Carol", password="secret-words-1")
    assert await bob.line() == "*** Carol joined (2 online)"
    carol.send("PRIVMSG #lobby :it is really me")
    assert await bob.line() == "<Carol> it is really me"


async def test_a_registered_name_with_a_wrong_password_gets_464(server: ChatServer) -> None:
    await register_account(server, "Carol", "secret-words-1")
    carol = await IRC.connect(irc_port(server))
    carol.send("PASS not-the-password", "NICK Carol", "USER carol 0 * :Carol")
    wrong = await carol.until(lambda m: m.command == "464")
    assert wrong[-1].params == ("*", "wrong password")
    assert not any(m.command == "001" for m in [*wrong, *await carol.sync()])


# PING and PONG


async def test_a_client_ping_gets_a_pong_with_its_token(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    replies = await ask(alice, "PING abc123", "PING :two words")
    assert [(m.source, *summary([m])[0]) for m in replies] == [
        (SERVER, "PONG", SERVER, "abc123"),
        (SERVER, "PONG", SERVER, "two words"),
    ]


async def test_an_idle_client_is_pinged_and_answering_keeps_it(
    start_server: StartServer,
) -> None:
    server = await start_server(irc_port=0, server_name=SERVER, irc_ping_timeout=2)
    bob = await Client.join(server.port, "Bob")
    started = time.monotonic()
    alice = await IRC.register(irc_port(server), "Alice")
    assert await bob.line() == "*** Alice joined (2 online)"
    for answered in range(3):  # three rounds: 3 s, longer than the 2 s timeout
        pinged = await alice.until(lambda m: m.command == "PING")
        assert summary(pinged) == [("PING", SERVER)]
        if answered == 0:
            assert 0.5 <= time.monotonic() - started < 2.0  # at half the timeout
        alice.send(f"PONG :{SERVER}")
    assert await alice.sync() == []
    await bob.quiet()  # Alice never left


async def test_an_idle_client_that_does_not_answer_is_dropped(
    start_server: StartServer,
) -> None:
    server = await start_server(irc_port=0, server_name=SERVER, irc_ping_timeout=2)
    bob = await Client.join(server.port, "Bob")
    alice = await IRC.register(irc_port(server), "Alice")
    assert await bob.line() == "*** Alice joined (2 online)"
    pinged = await alice.until(lambda m: m.command == "PING")
    assert summary(pinged[-1:]) == [("PING", SERVER)]
    dropped = await alice.message()
    assert summary([dropped]) == [("ERROR", "Closing link (Ping timeout)")]
    assert await alice.closed() == b""
    assert await bob.line() == "*** Alice left (ping timeout)"


# Channels and queries


async def test_join_several_channels_at_once(server: ChatServer) -> None:
    bob = await Client.join(server.port, "Bob")
    bob.send("/join #b")
    assert await bob.line() == "*** Now in #b (1 here): Bob"
    alice = await IRC.register(irc_port(server), "Alice")
    replies = await ask(alice, "JOIN #a,#b")
    joins = [m for m in replies if m.command == "JOIN"]
    assert [(m.source, m.params) for m in joins] == [
        ("Alice!Alice@asyncchat", ("#a",)),
        ("Alice!Alice@asyncchat", ("#b",)),
    ]
    names = [m.params[2:] for m in replies if m.command == "353"]
    assert names == [("#a", "Alice"), ("#b", "Alice Bob")]
    assert [m.params[1] for m in replies if m.command == "366"] == ["#a", "#b"]
    assert await bob.line() == "*** Alice joined (2 here)"


async def test_join_without_a_channel_prefix_gets_403(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "JOIN games")) == [("403", "Alice", "games", "No such channel")]
    whois = await ask(alice, "WHOIS Alice")
    assert [m.params[2] for m in whois if m.command == "319"] == ["#lobby"]


async def test_join_of_an_invalid_channel_name_names_the_channel(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    alice.send("PRIVMSG Bob :hi")
    assert await bob.line() == "*Alice* hi"
    replies = await ask(alice, "JOIN #bad!name")
    assert len(replies) == 1, summary(replies)
    # modern.ircdocs.horse JOIN: ERR_NOSUCHCHANNEL (403) or ERR_BADCHANMASK (476);
    # 479 (ERR_BADCHANNAME) is common too. Not 432, which is about nicks.
    assert replies[0].command in ("403", "476", "479"), summary(replies)
    assert replies[0].params[:2] == ("Alice", "#bad!name"), summary(replies)


async def test_join_0_parts_every_channel(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    await ask(alice, "JOIN #a,#b")
    replies = await ask(alice, "JOIN 0")
    parts = [m for m in replies if m.command == "PART"]
    assert {m.params[0] for m in parts} == {"#lobby", "#a", "#b"}
    assert all(m.source == "Alice!Alice@asyncchat" for m in parts)
    assert len(parts) == len(replies) == 3
    assert await bob.line() == "*** Alice left"
    whois = await ask(alice, "WHOIS Alice")
    assert [m.command for m in whois] == ["311", "312", "318"]  # no 319: in no channel


async def test_part_with_a_reason_is_seen_by_a_line_user(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    replies = await ask(alice, "PART #lobby :gone fishing")
    assert [(m.source, *summary([m])[0]) for m in replies] == [
        ("Alice!Alice@asyncchat", "PART", "#lobby", "gone fishing")
    ]
    assert await bob.line() == "*** Alice left (part: gone fishing)"


async def test_part_of_a_channel_one_is_not_on_gets_442(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    bob.send("/join #games")
    await alice.until(lambda m: m.command == "PART")  # Bob left #lobby for #games
    replies = await ask(alice, "PART #elsewhere")
    assert [m.command for m in replies] == ["442"], summary(replies)
    assert replies[0].params[:2] == ("Alice", "#elsewhere")


async def test_names_lists_the_channel(server: ChatServer) -> None:
    alice, _bob = await alice_and_bob(server)
    replies = await ask(alice, "NAMES #lobby")
    assert [m.command for m in replies] == ["353", "366"]
    assert replies[0].params[:3] == ("Alice", "=", "#lobby")
    assert sorted(replies[0].params[3].split()) == ["Alice", "Bob"]
    assert replies[1].params == ("Alice", "#lobby", "End of /NAMES list")


async def test_who_of_a_channel_marks_away_users_gone(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    bob.send("/away lunch")
    assert await bob.line() == "*** you are away: lunch (/away alone when you are back)"
    replies = await ask(alice, "WHO #lobby")
    assert [m.command for m in replies] == ["352", "352", "315"]
    flags = {m.params[5]: m.params[6] for m in replies[:2]}
    assert flags == {"Alice": "H", "Bob": "G"}
    bob_line = next(m for m in replies if m.params[5] == "Bob")
    assert bob_line.params == (
        "Alice",
        "#lobby",
        "Bob",
        "asyncchat",
        SERVER,
        "Bob",
        "G",
        "0 Bob",
    )
    assert replies[2].params == ("Alice", "#lobby", "End of /WHO list")


async def test_who_of_a_nick(server: ChatServer) -> None:
    alice, _bob = await alice_and_bob(server)
    replies = await ask(alice, "WHO bob")
    assert summary(replies) == [
        ("352", "Alice", "#lobby", "Bob", "asyncchat", SERVER, "Bob", "H", "0 Bob"),
        ("315", "Alice", "bob", "End of /WHO list"),
    ]


async def test_whois_of_a_nick(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    bob.send("/join #games")
    await alice.until(lambda m: m.command == "PART")
    replies = await ask(alice, "WHOIS Bob")
    assert summary(replies) == [
        ("311", "Alice", "Bob", "Bob", "asyncchat", "*", "Bob"),
        ("319", "Alice", "Bob", "#games"),
        ("312", "Alice", "Bob", SERVER, "asyncchat"),
        ("318", "Alice", "Bob", "End of /WHOIS list"),
    ]


async def test_whois_of_an_unknown_nick_gets_401_and_318(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "WHOIS nobody")) == [
        ("401", "Alice", "nobody", "No such nick/channel"),
        ("318", "Alice", "nobody", "End of /WHOIS list"),
    ]


async def test_list_counts_the_users_of_every_channel(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    _carol = await Client.join(server.port, "Carol")  # a second user in #lobby
    await alice.until(lambda m: m.command == "JOIN")
    bob.send("/join #games")
    await alice.until(lambda m: m.command == "PART")
    replies = await ask(alice, "LIST")
    assert [m.command for m in replies] == ["321", "322", "322", "323"]
    assert replies[0].params[:2] == ("Alice", "Channel")
    counts = {m.params[1]: m.params[2] for m in replies if m.command == "322"}
    assert counts == {"#lobby": "2", "#games": "1"}
    assert replies[-1].params == ("Alice", "End of /LIST")


async def test_topic_of_a_channel_without_one_gets_331(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "TOPIC #lobby")) == [
        ("331", "Alice", "#lobby", "No topic is set")
    ]


async def test_mode_of_a_channel_gets_324(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    replies = await ask(alice, "MODE #lobby")
    assert [(m.command, *m.params[:2]) for m in replies] == [("324", "Alice", "#lobby")]
    assert replies[0].params[2].startswith("+")


async def test_mode_b_of_a_channel_gets_an_empty_ban_list(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "MODE #lobby b")) == [
        ("368", "Alice", "#lobby", "End of channel ban list")
    ]


async def test_mode_of_ones_own_nick_gets_221(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    replies = await ask(alice, "MODE Alice")
    assert [(m.command, m.params[0]) for m in replies] == [("221", "Alice")]
    assert replies[0].params[1].startswith("+")


async def test_away_and_back(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "AWAY :out for lunch")) == [
        ("306", "Alice", "You have been marked as being away")
    ]
    assert summary(await ask(alice, "AWAY")) == [
        ("305", "Alice", "You are no longer marked as being away")
    ]


async def test_a_privmsg_to_an_away_irc_user_answers_301(server: ChatServer) -> None:
    dave = await IRC.register(irc_port(server), "Dave")
    await ask(dave, "AWAY :out for lunch")
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "PRIVMSG Dave :are you there?")) == [
        ("301", "Alice", "Dave", "out for lunch")
    ]
    got = await dave.until(lambda m: m.command == "PRIVMSG")
    assert (got[-1].source, got[-1].params) == (
        "Alice!Alice@asyncchat",
        ("Dave", "are you there?"),
    )


async def test_ison_lists_who_is_online(server: ChatServer) -> None:
    alice, _bob = await alice_and_bob(server)
    assert summary(await ask(alice, "ISON bob nobody Alice")) == [("303", "Alice", "Bob Alice")]


async def test_userhost_of_online_users(server: ChatServer) -> None:
    alice, _bob = await alice_and_bob(server)
    assert summary(await ask(alice, "USERHOST Bob nobody")) == [
        ("302", "Alice", "Bob=+Bob@asyncchat")
    ]


async def test_an_unknown_command_gets_421(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "FROBNICATE now")) == [
        ("421", "Alice", "FROBNICATE", "Unknown command")
    ]


@pytest.mark.parametrize("verb", ["JOIN", "PART", "WHOIS", "TOPIC", "MODE"])
async def test_missing_parameters_get_461(server: ChatServer, verb: str) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, verb)) == [("461", "Alice", verb, "Not enough parameters")]


async def test_a_privmsg_without_text_gets_412(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    replies = await ask(alice, "PRIVMSG #lobby", "PRIVMSG #lobby :", "PRIVMSG Bob :   ")
    assert summary(replies) == [("412", "Alice", "No text to send")] * 3
    await bob.quiet()


async def test_a_privmsg_without_a_target_gets_411(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "PRIVMSG")) == [
        ("411", "Alice", "No recipient given (PRIVMSG)")
    ]


async def test_a_privmsg_to_nobody_gets_401_and_reaches_no_one(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    dave = await IRC.register(irc_port(server), "Dave")
    assert await bob.line() == "*** Dave joined (3 online)"
    await alice.until(lambda m: m.command == "JOIN")
    replies = await ask(alice, "PRIVMSG nobody :hello?")
    assert [m.command for m in replies] == ["401"]
    assert replies[0].params[:2] == ("Alice", "nobody")
    await bob.quiet()
    assert await dave.sync() == []


async def test_a_notice_reaches_a_channel_and_a_user(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    assert await ask(alice, "NOTICE #lobby :to everyone", "NOTICE Bob :to you") == []
    assert await bob.lines(2) == ["<Alice> to everyone", "*Alice* to you"]


async def test_a_notice_to_nobody_gets_no_error_reply(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    assert summary(await ask(alice, "NOTICE nobody :hello?")) == []


async def test_after_a_nick_change_replies_address_the_new_nick(server: ChatServer) -> None:
    alice = await IRC.register(irc_port(server), "Alice")
    renamed = await ask(alice, "NICK Alicia")
    assert [(m.source, m.command, m.params) for m in renamed] == [
        ("Alice!Alice@asyncchat", "NICK", ("Alicia",))
    ]
    replies = await ask(alice, "MODE Alicia", "WHOIS nobody")
    assert [(m.command, m.params[0]) for m in replies] == [
        ("221", "Alicia"),
        ("401", "Alicia"),
        ("318", "Alicia"),
    ]


# Capabilities


async def test_server_time_tags_channel_and_private_messages(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server, caps="server-time")
    dave = await IRC.register(irc_port(server), "Dave")
    assert await bob.line() == "*** Dave joined (3 online)"
    await alice.until(lambda m: m.command == "JOIN")
    bob.send("hello all", "Alice: just you")
    public, private = await alice.message(), await alice.message()
    assert summary([public, private]) == [
        ("PRIVMSG", "#lobby", "hello all"),
        ("PRIVMSG", "Alice", "just you"),
    ]
    assert stamped_now(public), public
    assert stamped_now(private), private
    untagged = await dave.until(lambda m: m.command == "PRIVMSG")
    assert (untagged[-1].params, untagged[-1].tags) == (("#lobby", "hello all"), {})


async def test_echo_message_returns_own_channel_and_private_messages(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server, caps="echo-message")
    replies = await ask(alice, "PRIVMSG #lobby :hi all", "PRIVMSG Bob :hi you")
    assert [(m.source, *summary([m])[0]) for m in replies] == [
        ("Alice!Alice@asyncchat", "PRIVMSG", "#lobby", "hi all"),
        ("Alice!Alice@asyncchat", "PRIVMSG", "Bob", "hi you"),
    ]
    assert await bob.lines(2) == ["<Alice> hi all", "*Alice* hi you"]


async def test_without_echo_message_nothing_comes_back(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    assert await ask(alice, "PRIVMSG #lobby :hi all", "PRIVMSG Bob :hi you") == []
    assert await bob.lines(2) == ["<Alice> hi all", "*Alice* hi you"]


async def history_in_games(server: ChatServer) -> Client:
    """Bob says three things in #games (and stays there, out of #lobby)."""
    bob = await Client.join(server.port, "Bob")
    bob.send("/join #games")
    assert await bob.line() == "*** Now in #games (1 here): Bob"
    bob.send("one", "/me two", "three")
    await bob.quiet()
    return bob


async def test_with_batch_history_comes_as_a_chathistory_batch(server: ChatServer) -> None:
    bob = await history_in_games(server)
    alice = await IRC.register(irc_port(server), "Alice", caps="server-time batch")
    replies = await ask(alice, "JOIN #games")
    after_names = [(i, m) for i, m in enumerate(replies) if m.command == "366"]
    assert [m.params[1] for _, m in after_names] == ["#games"]
    batch = replies[after_names[0][0] + 1 :]
    assert len(batch) == 5, summary(batch)
    start, *lines, end = batch
    assert start.command == "BATCH"
    assert start.source == SERVER
    reference = start.params[0].removeprefix("+")
    assert start.params == (f"+{reference}", "chathistory", "#games")
    assert reference
    assert [(m.source, *summary([m])[0]) for m in lines] == [
        ("Bob!Bob@asyncchat", "PRIVMSG", "#games", "one"),
        ("Bob!Bob@asyncchat", "PRIVMSG", "#games", "\x01ACTION two\x01"),
        ("Bob!Bob@asyncchat", "PRIVMSG", "#games", "three"),
    ]
    assert all(m.tags.get("batch") == reference for m in lines)
    assert all(stamped_now(m) for m in lines), lines
    assert summary([end]) == [("BATCH", f"-{reference}")]
    assert await bob.line() == "*** Alice joined (2 here)"


async def test_without_batch_history_comes_as_notices(server: ChatServer) -> None:
    bob = await history_in_games(server)
    alice = await IRC.register(irc_port(server), "Alice")
    replies = await ask(alice, "JOIN #games")
    notices = [m for m in replies if m.command == "NOTICE"]
    assert notices == replies[-len(notices) :]  # after the JOIN and NAMES
    assert all(m.source == SERVER and m.params[0] == "#games" for m in notices)
    texts = [m.params[1] for m in notices]
    assert texts[0] == "Recent messages:"
    assert texts[-1] == "End of recent messages"
    said = [text.partition("] ") for text in texts[1:-1]]
    assert [after for _, _, after in said] == ["<Bob> one", "* Bob two", "<Bob> three"]
    stamp = r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    assert all(re.fullmatch(stamp, before) for before, _, _ in said), said
    assert not any("batch" in m.tags for m in replies)
    assert await bob.line() == "*** Alice joined (2 here)"


# Bad input


async def test_a_line_over_512_bytes_gets_417_and_the_connection_stays_usable(
    server: ChatServer,
) -> None:
    alice, bob = await alice_and_bob(server)
    prefix = "PRIVMSG #lobby :"
    longest = prefix + "x" * (510 - len(prefix))  # 512 bytes with CRLF: allowed
    assert await ask(alice, longest) == []
    assert await bob.line() == "<Alice> " + longest.removeprefix(prefix)
    for too_long in (longest + "y", prefix + "z" * 600, prefix + "w" * 5000):
        assert summary(await ask(alice, too_long)) == [("417", "Alice", "Input line was too long")]
    alice.send("PRIVMSG #lobby :still here")
    assert await bob.line() == "<Alice> still here"


async def test_a_tags_part_over_4096_bytes_gets_417(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)

    def tagged(size: int, text: str) -> str:
        """A line whose tags part ('@', the tags and the space) is `size` bytes."""
        return "@a=" + "b" * (size - 4) + f" PRIVMSG #lobby :{text}"

    assert await ask(alice, tagged(4096, "tags at the limit")) == []
    assert await bob.line() == "<Alice> tags at the limit"
    assert summary(await ask(alice, tagged(4097, "tags over the limit"))) == [
        ("417", "Alice", "Input line was too long")
    ]
    alice.send("PRIVMSG #lobby :still here")
    assert await bob.line() == "<Alice> still here"


async def test_invalid_utf8_gets_fail_and_the_connection_stays_usable(
    server: ChatServer,
) -> None:
    alice, bob = await alice_and_bob(server)
    alice.writer.write(b"PRIVMSG #lobby :caf\xe9 au lait\r\n")
    replies = await alice.sync()
    assert [(m.command, *m.params[:2]) for m in replies] == [("FAIL", "*", "INVALID_UTF8")]
    alice.send("PRIVMSG #lobby :café au lait")
    assert await bob.line() == "<Alice> café au lait"


async def test_empty_and_blank_lines_are_ignored(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    assert await ask(alice, "", "   ", "") == []
    await bob.quiet()


async def test_lowercase_commands_work(server: ChatServer) -> None:
    alice, bob = await alice_and_bob(server)
    replies = await ask(alice, "privmsg #lobby :quietly", "names #lobby")
    assert [m.command for m in replies] == ["353", "366"]
    assert await bob.line() == "<Alice> quietly"


# Limits


async def test_flood_control_delays_but_does_not_drop(start_server: StartServer) -> None:
    server = await start_server(irc_port=0, server_name=SERVER, rate=5, burst=5)
    alice, bob = await alice_and_bob(server)
    alice.send(*(f"PRIVMSG #lobby :message {i}" for i in range(20)))
    first = await bob.line()
    started = time.monotonic()
    rest = [await bob.line() for _ in range(19)]
    took = time.monotonic() - started
    assert [first, *rest] == [f"<Alice> message {i}" for i in range(20)]
    assert took >= 1.5, took  # 15 or more of them at 5 a second: about 3 s
    assert await alice.sync() == []  # no error, no disconnection
    await bob.quiet()


async def test_the_third_unregistered_irc_connection_from_one_address_is_refused(
    start_server: StartServer,
) -> None:
    server = await start_server(irc_port=0, server_name=SERVER, exempt="", max_unnamed_per_ip=2)
    first = await IRC.connect(irc_port(server))
    second = await IRC.connect(irc_port(server))
    assert await first.sync() == []
    assert await second.sync() == []
    third = await IRC.connect(irc_port(server))
    refused = await third.message()
    assert summary([refused]) == [
        ("ERROR", "Closing link (too many connections from your address)")
    ]
    assert await third.closed() == b""
    first.send("NICK Alice", "USER alice 0 * :Alice")  # the others go on as usual
    burst = await first.until(lambda m: m.command == "366")
    assert burst[0].command == "001"
    assert await second.sync() == []


# TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pem(ca: trustme.CA, tmp_path: Path) -> str:
    return issue(ca, tmp_path)


async def test_irc_over_tls_registers(start_server: StartServer, ca: trustme.CA, pem: str) -> None:
    server = await start_server(
        server_name=SERVER, irc_tls_port=0, tls_cert=pem, tls_key=pem, tls_port=0
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    bob = await Client.join(server.port, "Bob")
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1",
            server.port_of("irc", tls=True),
            ssl=context,
            server_hostname="127.0.0.1",
        ),
        TIMEOUT,
    )
    alice = IRC(reader, writer)
    assert writer.get_extra_info("ssl_object") is not None
    alice.send("NICK Alice", "USER alice 0 * :Alice")
    burst = await alice.until(lambda m: m.command == "366")
    assert (burst[0].source, burst[0].command, burst[0].params[0]) == (SERVER, "001", "Alice")
    assert await bob.line() == "*** Alice joined (2 online)"
    alice.send("PRIVMSG #lobby :over tls")
    assert await bob.line() == "<Alice> over tls"


async def test_a_wall_reaches_an_irc_client_as_a_notice_to_its_nick(
    start_server: StartServer,
) -> None:
    server = await start_server(irc_port=0, server_name=SERVER, oper=("Op",))
    op = await Client.join(server.port, "Op")
    op.send("/register sesame-open-42")
    assert await op.line() == "*** 'Op' is registered to you"
    alice = await IRC.register(irc_port(server), "Alice")
    op.send("/wall maintenance at noon")
    notice = (await alice.until(lambda m: m.command == "NOTICE"))[-1]
    assert notice.params == ("Alice", "notice from Op: maintenance at noon")
