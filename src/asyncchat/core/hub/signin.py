"""Accounts in the hub: registering names, signing in, taking over ghosts."""

from __future__ import annotations

import logging

from asyncchat.core.accounts import Account
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    PasswordWork,
    Purpose,
)
from asyncchat.core.events import (
    AccountChange,
    AccountState,
    AskName,
    ErrorCode,
    LeaveReason,
    SignedInElsewhere,
)
from asyncchat.core.hub.base import HubBase, ban_text, quoted
from asyncchat.core.names import (
    looks_like_name,
    name_key,
)
from asyncchat.core.passwords import password_problem
from asyncchat.core.registry import P, Session, State

log = logging.getLogger(__name__)


MAX_HASHING = 64
"""Password hashes queued or running at once; past it, a try is answered "busy"."""


class SignIn(HubBase[P]):
    """Accounts: /register, the password question, /identify, /password, /unregister.

    Every password is checked or hashed off the loop: the hub returns a
    PasswordWork effect and goes on in `password_done` when the edge answers.
    """

    def _work(
        self,
        session: Session[P],
        purpose: Purpose,
        account: str,
        password: str,
        secret: str | None = None,
        new: str | None = None,
    ) -> list[Effect]:
        if self._hashing >= MAX_HASHING:
            self.warnings.warn("hashing", f"refused a password: {MAX_HASHING} being hashed")
            text = "the server is busy checking passwords; try again in a few seconds"
            busy = self._error(session, ErrorCode.BUSY, text)
            return [busy, self._to(session, AskName())] if purpose is Purpose.SIGN_IN else [busy]
        self._hashing += 1
        session.busy = True
        return [PasswordWork(session.id, purpose, account, password, secret, new)]

    def _throttled(self, session: Session[P], key: str) -> Delivery | None:
        """The error for a try that must wait (too many wrong passwords), or None."""
        wait = self._attempts.wait(key, session.address, self._monotonic())
        if not wait:
            return None
        text = f"too many attempts; try again in {wait} s"
        return self._error(session, ErrorCode.TOO_MANY_ATTEMPTS, text)

    def _wrong(self, session: Session[P], key: str) -> Delivery:
        self._attempts.failed(key, session.address, self._monotonic())
        self.warnings.warn("password", f"a wrong password for {key} from {session.host}")
        return self._error(session, ErrorCode.WRONG_PASSWORD, "wrong password")

    def _sign_in(self, session: Session[P], password: str) -> list[Effect]:
        """The line after AskPassword: the password of the name asked for."""
        session.asking = False
        account = self.accounts.get(session.asked or "")
        if account is None or not password.strip():  # unregistered meanwhile, or given up
            return [self._to(session, AskName())]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting, self._to(session, AskName())]
        return self._work(session, Purpose.SIGN_IN, account.key, password.strip(), account.secret)

    def _identify(self, session: Session[P], wanted: str | None, password: str) -> list[Effect]:
        if wanted is None:
            key = session.asked or session.key
        elif looks_like_name(wanted):
            key = name_key(wanted)
        else:
            text = f"'{quoted(wanted)}' is not a valid name"
            return [self._error(session, ErrorCode.BAD_NAME, text)]
        account = self.accounts.get(key)
        if account is None:
            shown = quoted(wanted) if wanted is not None else session.name
            text = f"'{shown}' is not registered (/register PASSWORD registers your name)"
            return [self._error(session, ErrorCode.NOT_REGISTERED, text)]
        if session.account == key and session.key == key:
            text = f"you are identified as {account.name} already"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self.bans.for_name(key, self._clock()) is not None:
            text = f"the name '{account.name}' is banned"
            return [self._error(session, ErrorCode.BANNED, text)]
        if key != session.key and self._muted(session):
            return [self._error(session, ErrorCode.MUTED, "you are muted; you cannot change names")]
        waiting = self._throttled(session, key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.IDENTIFY, key, password, account.secret)

    def _register_account(self, session: Session[P], password: str) -> list[Effect]:
        problem = password_problem(password)
        if problem is not None:
            return [self._error(session, ErrorCode.BAD_PASSWORD, problem)]
        account = self.accounts.get(session.key)
        if account is not None:
            text = f"'{account.name}' is registered to you already (/password OLD NEW changes it)"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        if self.accounts.full:
            limit = self.accounts.limit
            text = f"this server has all the accounts it allows ({limit}); ask an operator"
            self.warnings.warn("accounts", f"refused an account: {limit} exist (--max-accounts)")
            return [self._error(session, ErrorCode.TOO_MANY_ACCOUNTS, text)]
        return self._work(session, Purpose.REGISTER, session.key, password)

    def _signed_in(self, session: Session[P]) -> Account | Delivery:
        account = self.accounts.get(session.account or "")
        if account is None:
            text = "you are not identified: /identify PASSWORD first (or /register PASSWORD)"
            return self._error(session, ErrorCode.NOT_IDENTIFIED, text)
        return account

    def _change_password(self, session: Session[P], old: str, new: str) -> list[Effect]:
        account = self._signed_in(session)
        if isinstance(account, Delivery):
            return [account]
        problem = password_problem(new)
        if problem is not None:
            return [self._error(session, ErrorCode.BAD_PASSWORD, problem)]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.CHANGE, account.key, old, account.secret, new)

    def _unregister(self, session: Session[P], password: str) -> list[Effect]:
        account = self._signed_in(session)
        if isinstance(account, Delivery):
            return [account]
        waiting = self._throttled(session, account.key)
        if waiting is not None:
            return [waiting]
        return self._work(session, Purpose.UNREGISTER, account.key, password, account.secret)

    def password_done(self, work: PasswordWork, result: bool | str) -> list[Effect]:
        """A PasswordWork finished: `result` is whether the password matched, or the
        new hash. Goes on with what it was for, if its session is still there."""
        self._hashing -= 1
        session = self._sessions.get(work.session)
        if session is None or session.state is State.GONE:
            return []
        session.busy = False
        if self.degraded:  # a change made now would be this node's alone
            text = "the chat is degraded; nothing was changed, try again in a moment"
            refused: list[Effect] = [self._error(session, ErrorCode.DEGRADED, text)]
            return refused + (
                [self._to(session, AskName())] if work.purpose is Purpose.SIGN_IN else []
            )
        account = self.accounts.get(work.account)
        if work.purpose is Purpose.REGISTER or work.purpose is Purpose.NEW_SECRET:
            assert isinstance(result, str)
            return self._hashed(session, work, account, result)
        if account is None or account.secret != work.secret:
            # Unregistered or changed meanwhile: as good as a wrong password, but no strike.
            text = "that account changed meanwhile; try again"
            effects: list[Effect] = [self._error(session, ErrorCode.WRONG_PASSWORD, text)]
            return effects + (
                [self._to(session, AskName())] if work.purpose is Purpose.SIGN_IN else []
            )
        if result is not True:
            wrong = self._wrong(session, account.key)
            return (
                [wrong, self._to(session, AskName())]
                if work.purpose is Purpose.SIGN_IN
                else [wrong]
            )
        match work.purpose:
            case Purpose.SIGN_IN:
                if session.state is not State.NAMING:
                    return []
                ban = self._name_ban(account.key)
                if ban is not None:  # banned while the password was asked
                    return [
                        self._error(session, ErrorCode.BANNED, ban_text(ban)),
                        Close(session.id),
                    ]
                session.account = account.key
                log.info("%s signed in", account.name)
                return [
                    *self._take_over(account.key),
                    ClaimName(session.id, account.name, account.key, force=True),
                ]
            case Purpose.IDENTIFY:
                if self._name_ban(account.key) is not None:
                    text = f"the name '{account.name}' is banned"
                    return [self._error(session, ErrorCode.BANNED, text)]
                session.account = account.key
                log.info("%s identified as %s", session.name or "a connection", account.name)
                identified = self._to(session, AccountState(AccountChange.IDENTIFIED, account.name))
                if session.key == account.key or session.state is State.NAMING:
                    return [identified]
                return [
                    *self._take_over(account.key),
                    ClaimName(session.id, account.name, account.key, rename=True, force=True),
                    identified,
                ]
            case Purpose.CHANGE:
                return self._work(session, Purpose.NEW_SECRET, account.key, work.new or "", None)
            case Purpose.UNREGISTER:
                self.accounts.remove(account.key)
                if self._kept is not None:
                    self._kept.drop_account(account.key)
                for other in self._sessions.values():
                    if other.account == account.key:
                        other.account = None
                log.info("%s unregistered %s", session.name, account.name)
                return [self._to(session, AccountState(AccountChange.UNREGISTERED, account.name))]
        raise AssertionError(work.purpose)

    def _hashed(
        self, session: Session[P], work: PasswordWork, account: Account | None, secret: str
    ) -> list[Effect]:
        if work.purpose is Purpose.NEW_SECRET:
            if account is None:
                return [self._error(session, ErrorCode.NOT_REGISTERED, "that account is gone")]
            account.secret = secret
            if self._kept is not None:
                self._kept.save_account(account)
            log.info("%s changed the password of %s", session.name, account.name)
            return [self._to(session, AccountState(AccountChange.PASSWORD_CHANGED, account.name))]
        if session.state is not State.CHATTING or session.key != work.account or account:
            text = "your name changed or was registered meanwhile; nothing was registered"
            return [self._error(session, ErrorCode.BAD_COMMAND, text)]
        created = Account(session.name, session.key, secret, self._clock())
        self.accounts.add(created)
        if self._kept is not None:
            self._kept.save_account(created)
        session.account = created.key
        log.info("%s registered", session.name)
        return [self._to(session, AccountState(AccountChange.REGISTERED, session.name))]

    def _take_over(self, key: str) -> list[Effect]:
        """The connection holding `key`, if any, loses it to one with the password."""
        ghost = self.directory.get(key)
        if ghost is None:
            return []
        log.info("%s signed in elsewhere; closing the old connection", ghost.name)
        return [
            self._to(ghost, SignedInElsewhere()),
            *self.leave(ghost, LeaveReason.GHOSTED),
            Close(ghost.id),
        ]
