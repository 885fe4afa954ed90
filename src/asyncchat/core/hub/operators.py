"""Operators in the hub: removing users, bans and mutes, notices to everyone."""

from __future__ import annotations

import logging
import math
import unicodedata

import asyncchat.core.commands as cmd
from asyncchat.core.effects import (
    Close,
    Delivery,
    Effect,
    ToEveryone,
)
from asyncchat.core.events import (
    ErrorCode,
    LeaveReason,
    Notice,
    Removed,
    Wall,
)
from asyncchat.core.hub.base import HubBase, for_minutes, quoted
from asyncchat.core.moderation import (
    Ban,
    BanKind,
    Mute,
    covers,
    parse_network,
)
from asyncchat.core.names import (
    looks_like_name,
    name_key,
)
from asyncchat.core.registry import P, Session

log = logging.getLogger(__name__)


def _more_minutes(minutes: int) -> str:
    return f"{minutes} more minute{'s' if minutes != 1 else ''}"


class Operators(HubBase[P]):
    """Registered names in --oper, once identified: /kick, /ban, /unban, /bans,
    /mute, /unmute, /wall. Every action is logged with who did it."""

    def _as_operator(self, session: Session[P]) -> str:
        """Who did it: the operator's account, whatever name it goes by now."""
        account = self.accounts.get(session.account or "")
        return account.name if account is not None else session.name

    def _operate(self, session: Session[P], command: cmd.Command) -> list[Effect]:
        if not self.is_operator(session):
            word = type(command).__name__.lower().replace("listbans", "bans")
            text = f"only operators can use /{word}"
            return [self._error(session, ErrorCode.NOT_OPERATOR, text)]
        now = self._clock()
        match command:
            case cmd.Kick(name, reason):
                target = self._online(session, name)
                if isinstance(target, Delivery):
                    return [target]
                if target is session:
                    return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot kick yourself")]
                log.warning(
                    "operator %s kicked %s (%s)",
                    self._as_operator(session),
                    target.name,
                    reason or "",
                )
                return self._remove(session, target, LeaveReason.KICKED, reason)
            case cmd.Ban(target, minutes, reason):
                return self._ban(session, target, minutes, reason, now)
            case cmd.Unban(target):
                return self._unban(session, target)
            case cmd.ListBans():
                return self._list_bans(session, now)
            case cmd.Mute(name, minutes):
                return self._mute(session, name, minutes, now)
            case cmd.Unmute(name):
                mute = self.mutes.remove(name_key(name)) if looks_like_name(name) else None
                if mute is None:
                    text = f"'{quoted(name)}' is not muted"
                    return [self._error(session, ErrorCode.BAD_COMMAND, text)]
                if self._kept is not None:
                    self._kept.drop_mute(mute.key)
                log.warning("operator %s unmuted %s", self._as_operator(session), mute.name)
                return [self._to(session, Notice(f"{mute.name} is no longer muted"))]
            case cmd.Wall(text):
                log.warning("operator %s to everyone: %s", self._as_operator(session), text)
                return [Delivery(Wall(self._as_operator(session), text), ToEveryone())]
        raise AssertionError(command)

    def _remove(
        self, by: Session[P], target: Session[P], reason: LeaveReason, why: str | None
    ) -> list[Effect]:
        """Close `target` for an operator's reason; its rooms are told who did it."""
        message = self._as_operator(by) + (f": {why}" if why else "")
        shared = not by.rooms.keys().isdisjoint(target.rooms)
        effects: list[Effect] = [
            self._to(target, Removed(reason, self._as_operator(by), why)),
            *self.leave(target, reason, message),
            Close(target.id),
        ]
        if not shared and target is not by:
            effects.append(
                self._to(by, Notice(f"{target.name or 'a connection'} removed ({reason.value})"))
            )
        return effects

    def _ban(
        self, session: Session[P], wanted: str, minutes: int | None, reason: str | None, now: float
    ) -> list[Effect]:
        network = parse_network(wanted) if not looks_like_name(wanted) else None
        if network is not None:
            kind, target = BanKind.NETWORK, str(network)
            shown = (
                str(network.network_address)
                if network.prefixlen == network.max_prefixlen
                else target
            )
            covered = [s for s in self._sessions.values() if covers(network, s.host)]
            if session in covered:
                text = f"a ban on {shown} would cover your own address"
                return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        elif looks_like_name(wanted):
            kind, target, shown = (
                BanKind.NAME,
                name_key(wanted),
                unicodedata.normalize("NFKC", wanted.strip()),
            )
            online = self.directory.get(target)
            # One on another node is removed there, when the ban reaches it.
            covered = [online] if online is not None and online.id in self._sessions else []
            shown = online.name if online is not None else shown
            if online is session:
                return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot ban yourself")]
        else:
            text = f"'{quoted(wanted)}' is not a name, an address or a CIDR (like 10.0.0.0/8)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self.bans.full_at(now) and not self.bans.has(kind, target):
            text = f"there are {len(self.bans)} bans already (--max-bans); /unban some first"
            return [self._error(session, ErrorCode.TOO_MANY_BANS, text)]
        until = now + minutes * 60 if minutes is not None else None
        ban = Ban(kind, target, shown, self._as_operator(session), reason, now, until)
        self.bans.add(ban)
        if self._kept is not None:
            self._kept.save_ban(ban)
        log.warning(
            "operator %s banned %s%s (%s)",
            self._as_operator(session),
            shown,
            for_minutes(minutes),
            reason or "",
        )
        effects: list[Effect] = []
        for target_session in covered:
            effects += self._remove(session, target_session, LeaveReason.BANNED, reason)
        removed = f"; {len(covered)} removed" if covered else ""
        text = f"banned {shown}{for_minutes(minutes)}" + (f": {reason}" if reason else "") + removed
        return [*effects, self._to(session, Notice(text))]

    def _unban(self, session: Session[P], wanted: str) -> list[Effect]:
        network = parse_network(wanted) if not looks_like_name(wanted) else None
        if network is not None:
            ban = self.bans.remove(BanKind.NETWORK, str(network))
        elif looks_like_name(wanted):
            ban = self.bans.remove(BanKind.NAME, name_key(wanted))
        else:
            ban = None
        if ban is None:
            text = f"there is no ban on '{quoted(wanted)}' (/bans lists them)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self._kept is not None:
            self._kept.drop_ban(ban)
        log.warning("operator %s unbanned %s", self._as_operator(session), ban.shown)
        return [self._to(session, Notice(f"{ban.shown} is no longer banned"))]

    def _list_bans(self, session: Session[P], now: float) -> list[Effect]:
        bans = self.bans.active(now)
        lines = [f"Bans ({len(bans)}):" if bans else "no one is banned"]
        for ban in bans:
            until = (
                "until /unban"
                if ban.until is None
                else f"{_more_minutes(math.ceil((ban.until - now) / 60))}"
            )
            why = f": {ban.reason}" if ban.reason else ""
            lines.append(f"  {ban.shown} ({ban.kind.value}) by {ban.by}, {until}{why}")
        return [self._to(session, Notice(line)) for line in lines]

    def _mute(
        self, session: Session[P], wanted: str, minutes: int | None, now: float
    ) -> list[Effect]:
        if not looks_like_name(wanted):
            return [
                self._error(session, ErrorCode.BAD_NAME, f"'{quoted(wanted)}' is not a valid name")
            ]
        key = name_key(wanted)
        online = self.directory.get(key)
        name = online.name if online is not None else unicodedata.normalize("NFKC", wanted.strip())
        if online is session:
            return [self._error(session, ErrorCode.BAD_COMMAND, "you cannot mute yourself")]
        if self.mutes.full_at(now) and self.mutes.get(key, now) is None:
            text = f"there are {len(self.mutes)} mutes already (--max-bans); /unmute some first"
            return [self._error(session, ErrorCode.TOO_MANY_BANS, text)]
        mute = Mute(
            key, name, self._as_operator(session), now, now + minutes * 60 if minutes else None
        )
        self.mutes.add(mute)
        if self._kept is not None:
            self._kept.save_mute(mute)
        log.warning(
            "operator %s muted %s%s", self._as_operator(session), name, for_minutes(minutes)
        )
        effects: list[Effect] = [self._to(session, Notice(f"muted {name}{for_minutes(minutes)}"))]
        if online is not None:
            text = f"you are muted by {self._as_operator(session)}{for_minutes(minutes)}"
            effects.append(self._to(online, Notice(text)))
        return effects
