"""The hub's shared state: sessions, names, accounts, bans; connect, leave, shutdown.

Pure: no sockets and no event loop. See routing.py for the Hub itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Generic

from asyncchat.config import MIB, ServerConfig
from asyncchat.core.accounts import AccountBook
from asyncchat.core.addresses import Admission
from asyncchat.core.attempts import Attempts
from asyncchat.core.directory import AccountStore, Directory, HistoryStore
from asyncchat.core.effects import (
    Close,
    Delivery,
    Effect,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    AskName,
    Error,
    ErrorCode,
    Event,
    LeaveReason,
    Left,
    ShuttingDown,
    Welcome,
)
from asyncchat.core.history import RecentHistory
from asyncchat.core.ignores import IgnoreTable
from asyncchat.core.logthrottle import WarningThrottle
from asyncchat.core.moderation import (
    Ban,
    BanList,
    MuteList,
)
from asyncchat.core.names import (
    InvalidName,
    looks_like_name,
    name_key,
)
from asyncchat.core.registry import P, Registry, Session, State
from asyncchat.core.sanitize import escape_forbidden

log = logging.getLogger(__name__)


def quoted(text: str, limit: int = 40) -> str:
    """A user's raw input, quotable in an error: control characters made visible."""
    visible = escape_forbidden(text)
    return visible if len(visible) <= limit else visible[: limit - 1] + "…"


def looks_alike(wanted: str, other: str) -> str:
    return f"'{quoted(wanted)}' looks too much like '{other}'"


def not_valid(wanted: str, problem: InvalidName, what: str = "name") -> str:
    return f"'{quoted(wanted)}' is not a valid {what}: {problem}"


def ban_text(ban: Ban) -> str:
    return "you are banned" + (f": {ban.reason}" if ban.reason else "")


def for_minutes(minutes: int | None) -> str:
    return "" if minutes is None else f" for {minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted address waiting to connect: `address` is its per-address key."""

    host: str | None
    address: str | None


class HubBase(Generic[P]):
    """The hub's state and what every part of it needs: sessions, connect and
    leave, addressing events. The parts (routing, sign-in, operators) build on it."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        directory: Directory[P] | None = None,
        store: HistoryStore | None = None,
        kept: AccountStore | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        first_id: int = 0,
        shared_history: bool = False,
    ) -> None:
        """`directory` knows names and rooms (default: in this process); `store`
        keeps public lines and `kept` accounts, bans and mutes (default: none,
        they live in memory only). In a cluster, `first_id` keeps this node's
        session and message ids apart from the others', and `shared_history`
        leaves the history cache to be fed in the cluster's order (`history.add`)."""
        self._config = config
        self.directory: Directory[P] = directory if directory is not None else Registry()
        self._sessions: dict[int, Session[P]] = {}
        self._last_id = first_id
        self._last_message = first_id
        self._shared_history = shared_history
        self.degraded = False
        """True while the cluster cannot be reached: every command but
        LOCAL_COMMANDS is refused (routing.py)."""
        self._pending = 0
        self._admission = Admission(config.address_limits, monotonic)
        self._ignores: IgnoreTable[P] = IgnoreTable()
        self._keep = store.put if store is not None else None
        self._clock = clock
        self.history = RecentHistory(
            config.history,
            config.history_memory * MIB,
            store.recent if store is not None and not shared_history else None,
        )
        self.warnings = WarningThrottle(log, monotonic)
        self._monotonic = monotonic
        self._kept = kept
        self.accounts = AccountBook(config.max_accounts, kept.accounts() if kept else None)
        self.bans = BanList(config.max_bans, kept.bans() if kept else None)
        self.mutes = MuteList(config.max_bans, kept.mutes() if kept else None)
        self._attempts = Attempts()
        self._hashing = 0
        self._opers = frozenset(name_key(name) for name in config.oper)
        for name in config.oper:
            if self.accounts.get(name_key(name)) is None:
                log.warning(
                    "--oper %s: that name is not registered yet; register it before anyone else",
                    name,
                )

    @property
    def connections(self) -> int:
        return len(self._sessions)

    @property
    def online(self) -> int:
        return len(self.directory)

    def members(self, room: str) -> Collection[Session[P]]:
        """The room's sessions now: for the edge to resolve a `ToRoom` at once."""
        return self.directory.members(room)

    def session(self, id: int) -> Session[P] | None:
        """The session with this id while it is connected (here)."""
        return self._sessions.get(id)

    def named(self) -> Iterator[Session[P]]:
        """The sessions connected here that have a name."""
        return (s for s in self._sessions.values() if s.state is State.CHATTING)

    def _anyone(self, id: int) -> Session[P] | None:
        """The session with this id, here or (in a cluster) on another node."""
        return self._sessions.get(id) or self.directory.remote(id)

    def find(self, name: str) -> Session[P] | None:
        """The session online under this name (compared without case), if any."""
        return self.directory.get(name_key(name))

    def admit(self, host: str | None) -> Ticket | Error:
        """Check a connection from `host` (an IP address, or None) before anything is
        spent on it (a TLS handshake): full server, bans, per-address limits. A Ticket
        holds its place until `connect` (or `release` if it never gets there)."""
        if len(self._sessions) + self._pending >= self._config.max_clients:
            full = self._config.max_clients
            self.warnings.warn("full", f"refused a connection: server is full ({full})")
            return Error(ErrorCode.SERVER_FULL, "server is full")
        ban = self.bans.for_address(host, self._clock()) if len(self.bans) else None
        if ban is not None:
            self.warnings.warn("banned", f"refused a connection from {host}: banned")
            return Error(ErrorCode.BANNED, ban_text(ban))
        admitted, address = self._admission.admit(host)
        if not admitted:
            self.warnings.warn("per-ip", f"refused a connection from {host}: too many from it")
            return Error(ErrorCode.TOO_MANY_CONNECTIONS, "too many connections from your address")
        self._pending += 1
        return Ticket(host, address)

    def release(self, ticket: Ticket) -> None:
        """A ticket that will never connect (its TLS handshake failed)."""
        self._pending -= 1
        self._admission.release(ticket.address, was_named=False)

    def connect(
        self, peer: P, host: str | None = None, ticket: Ticket | None = None
    ) -> tuple[Session[P], list[Effect]]:
        """A new connection from `host`, admitted now or before (`ticket`); refused
        (the session born GONE) when the server is full or the address is over its
        limits or banned (also if banned since its ticket was given)."""
        self._last_id += 1
        session = Session(peer, self._last_id)
        admitted = self.admit(host) if ticket is None else ticket
        if isinstance(admitted, Error):
            return self._refused(session, admitted)
        self._pending -= 1
        session.host, session.address = admitted.host, admitted.address
        self._sessions[session.id] = session
        ban = (
            self.bans.for_address(admitted.host, self._clock())
            if ticket and len(self.bans)
            else None
        )
        if ban is not None:  # banned while its TLS handshake ran
            self._forget(session)
            return self._refused(session, Error(ErrorCode.BANNED, ban_text(ban)))
        return session, [self._to(session, Welcome())]

    def _message_id(self) -> int:
        self._last_message += 1
        return self._last_message

    def _refused(self, session: Session[P], error: Error) -> tuple[Session[P], list[Effect]]:
        session.state = State.GONE
        return session, [self._to(session, error), Close(session.id)]

    def expire(self, session: Session[P]) -> list[Effect]:
        """Registration time ran out; a named session is not affected."""
        if session.state is not State.NAMING:
            return []
        self._forget(session)
        seconds = f"{self._config.register_timeout:g}"
        self.warnings.warn("expired", f"closed a connection that gave no name within {seconds} s")
        text = f"no name given within {seconds} seconds; goodbye"
        return [self._to(session, Error(ErrorCode.REGISTER_TIMEOUT, text)), Close(session.id)]

    def leave(
        self, session: Session[P], reason: LeaveReason, message: str | None = None
    ) -> list[Effect]:
        """The connection is gone (or going); tell its rooms."""
        if session.state is not State.CHATTING:
            self._forget(session)
            return []
        rooms = tuple(session.rooms)
        shown = self.directory.room_name(rooms[0]) if len(rooms) == 1 else ""
        self._forget(session)
        log.info("%s left (%s)", session.name, reason.value)
        if not rooms:
            return []
        # One notice for everyone who shared any room: the user is gone from all.
        return [Delivery(Left(session.name, reason, message, shown), ToRooms(rooms))]

    def shutdown(self) -> list[Effect]:
        """Tell every connection, named or not, and forget them all.

        No per-user `left` lines: everyone leaves at the same moment, and
        N² such lines would hold up the exit of a big server.
        """
        everyone = tuple(self._sessions.values())
        log.info("shutting down: closing %d connections", len(everyone))
        for session in everyone:
            self._forget(session)
        ids = tuple(session.id for session in everyone)
        return [Delivery(ShuttingDown(), ToSessions(ids)), *(Close(id) for id in ids)]

    def _forget(self, session: Session[P]) -> None:
        named = session.state is State.CHATTING
        if named:
            self.directory.remove(session)
            self._ignores.forget(session)
        if self._sessions.pop(session.id, None) is not None:  # not another node's
            self._admission.release(session.address, was_named=named)
        session.state = State.GONE

    @staticmethod
    def _to(session: Session[P], event: Event) -> Delivery:
        return Delivery(event, ToSession(session.id))

    def _refuse_name(self, session: Session[P], text: str, *, taken: bool = False) -> list[Effect]:
        code = ErrorCode.NAME_TAKEN if taken else ErrorCode.BAD_NAME
        return [self._to(session, Error(code, text)), self._to(session, AskName())]

    def _online(self, session: Session[P], wanted: str) -> Session[P] | Delivery:
        """The user online under `wanted`, or the error to send."""
        found = self.directory.get(name_key(wanted)) if looks_like_name(wanted) else None
        if found is None:
            text = f"no one called '{quoted(wanted)}' is online"
            return self._error(session, ErrorCode.NO_SUCH_USER, text)
        return found

    def _error(self, session: Session[P], code: ErrorCode, text: str) -> Delivery:
        return self._to(session, Error(code, text))

    def _name_ban(self, key: str) -> Ban | None:
        return self.bans.for_name(key, self._clock()) if len(self.bans) else None

    def _muted(self, session: Session[P]) -> bool:
        return bool(len(self.mutes)) and self.mutes.get(session.key, self._clock()) is not None

    def is_operator(self, session: Session[P]) -> bool:
        return session.account is not None and session.account in self._opers
