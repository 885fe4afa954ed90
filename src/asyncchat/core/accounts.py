"""Registered names: who owns which name, by key and by look.

Only password hashes are held (see passwords.py). The book is the one
place that answers "is this name, or one that looks like it, registered?",
so registration, /nick and /identify compare names the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncchat.core.names import Name


@dataclass(slots=True)
class Account:
    """One registered name: shown as `name`, compared by `key`, its hash in `secret`."""

    name: str
    key: str
    secret: str = field(repr=False)
    created: float = 0.0

    @property
    def skeleton(self) -> str:
        return Name(self.name, self.key).skeleton


class AccountBook:
    """Accounts by name key and by skeleton, at most `limit` of them.

    A file may hold two accounts that look alike (written before a rule
    changed); each keeps guarding its look, so the index keeps them all.
    """

    __slots__ = ("_by_key", "_by_look", "limit")

    def __init__(self, limit: int, accounts: list[Account] | None = None) -> None:
        self.limit = limit
        self._by_key: dict[str, Account] = {}
        self._by_look: dict[str, dict[str, Account]] = {}
        for account in accounts or ():
            self.add(account)

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def full(self) -> bool:
        return len(self._by_key) >= self.limit

    def get(self, key: str) -> Account | None:
        return self._by_key.get(key)

    def looks_like(self, name: Name) -> Account | None:
        """An account under another key whose name looks like `name`, if any."""
        for key, account in self._by_look.get(name.skeleton, {}).items():
            if key != name.key:
                return account
        return None

    def add(self, account: Account) -> None:
        """Add (or replace) an account; loading a file may exceed the limit, never shrinks it."""
        self.remove(account.key)
        self._by_key[account.key] = account
        self._by_look.setdefault(account.skeleton, {})[account.key] = account

    def remove(self, key: str) -> Account | None:
        account = self._by_key.pop(key, None)
        if account is not None:
            looks = self._by_look[account.skeleton]
            del looks[key]
            if not looks:
                del self._by_look[account.skeleton]
        return account
