"""What other nodes of a cluster decided, applied to this node's hub.

Each method takes a change another node published (in the cluster's order)
and returns the effects it has here, for this node's own sessions only:
nothing here is published again.
"""

from __future__ import annotations

import logging

from asyncchat.core.accounts import Account, AccountBook
from asyncchat.core.effects import Close, Delivery, Effect, ToRooms
from asyncchat.core.events import LeaveReason, Left, Removed
from asyncchat.core.hub.base import HubBase
from asyncchat.core.moderation import (
    Ban,
    BanKind,
    BanList,
    Mute,
    MuteList,
    covers,
    parse_network,
)
from asyncchat.core.registry import MAX_CORRESPONDENTS, P, Session, State

log = logging.getLogger(__name__)


def correspond(session: Session[P], other: int) -> None:
    """Remember a private partner, the most recent MAX_CORRESPONDENTS only."""
    partners = session.correspondents
    partners.pop(other, None)
    partners[other] = None
    if len(partners) > MAX_CORRESPONDENTS:
        del partners[next(iter(partners))]


class Replica(HubBase[P]):
    """Applying other nodes' changes: departures, private messages, accounts,
    bans and mutes (their names and rooms: see cluster/directory.py)."""

    def departed(self, sessions: list[Session[P]], reason: LeaveReason) -> list[Effect]:
        """Other nodes' sessions that are gone without a word of their own (their
        node died or shut down): this node's members of their rooms are told."""
        effects: list[Effect] = []
        for session in sessions:
            rooms = tuple(session.rooms)
            shown = self.directory.room_name(rooms[0]) if len(rooms) == 1 else ""
            session.state = State.GONE  # before: a directory shared by nodes tells the two apart
            self.directory.remove(session)
            self._ignores.forget(session)
            if rooms:
                effects.append(Delivery(Left(session.name, reason, None, shown), ToRooms(rooms)))
        return effects

    def drop(self, session: Session[P]) -> None:
        """A session here that another node removed (kick, ban, a ghost signed in
        there): its rooms were told there; it is only forgotten here."""
        self._forget(session)

    def private_arrived(self, recipient: Session[P], sender: int, key: str, name: str) -> bool:
        """A private message from another node's user to one here: False if ignored."""
        if self._ignores.ignores(recipient, key):
            return False
        recipient.reply_to = (sender, name)
        correspond(recipient, sender)
        return True

    def ignorers_of(self, key: str) -> frozenset[int]:
        """The sessions here that ignore this name."""
        found = self._ignores.ignorers(key)
        return frozenset(s.id for s in found) if found else frozenset()

    def renamed_elsewhere(self, old_key: str, new_key: str, name: str) -> None:
        """Another node's user changed names: ignores here follow it."""
        self._ignores.renamed(old_key, new_key, name)

    def account_saved(self, account: Account) -> None:
        self.accounts.add(account)

    def account_dropped(self, key: str) -> None:
        self.accounts.remove(key)
        for session in self._sessions.values():
            if session.account == key:
                session.account = None

    def mute_saved(self, mute: Mute) -> None:
        self.mutes.add(mute)

    def mute_dropped(self, key: str) -> None:
        self.mutes.remove(key)

    def ban_dropped(self, ban: Ban) -> None:
        self.bans.remove(ban.kind, ban.target)

    def kept_reloaded(
        self, accounts: list[Account], bans: list[Ban], mutes: list[Mute]
    ) -> list[Effect]:
        """The whole of the accounts, bans and mutes again (after a gap in the log):
        what was dropped meanwhile goes, and a ban not known before removes whom it
        covers here."""
        known = {(ban.kind, ban.target) for ban in self.bans.active(self._clock())}
        self.accounts = AccountBook(self.accounts.limit, accounts)
        self.bans = BanList(self._config.max_bans, [])
        self.mutes = MuteList(self._config.max_bans, mutes)
        for session in self._sessions.values():
            if session.account is not None and self.accounts.get(session.account) is None:
                session.account = None
        effects: list[Effect] = []
        for ban in bans:
            if (ban.kind, ban.target) in known:
                self.bans.add(ban)
            else:
                effects += self.ban_saved(ban)
        return effects

    def ban_saved(self, ban: Ban) -> list[Effect]:
        """Another node's ban: this node's sessions it covers are removed (an expired
        one, as a snapshot may still hold, is not even kept)."""
        if not ban.active(self._clock()):
            return []
        self.bans.add(ban)
        if ban.kind is BanKind.NAME:
            online = self.directory.get(ban.target)
            covered = [online] if online is not None and online.id in self._sessions else []
        else:
            network = parse_network(ban.target)
            covered = [
                s
                for s in self._sessions.values()
                if network is not None and covers(network, s.host)
            ]
        message = ban.by + (f": {ban.reason}" if ban.reason else "")
        effects: list[Effect] = []
        for session in covered:
            effects += [
                self._to(session, Removed(LeaveReason.BANNED, ban.by, ban.reason)),
                *self.leave(session, LeaveReason.BANNED, message),
                Close(session.id),
            ]
        return effects
