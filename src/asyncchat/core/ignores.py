"""Who ignores whom: nobody is made to listen.

Ignores are kept by name key and follow the ignored user's renames, so
neither `/nick` nor leaving and coming back under the same name gets
around them; they end with `/unignore` or when the one ignoring leaves.
Both directions are indexed, so a public line asks one dict lookup of its
sender and the fan-out stays as it is when nobody ignores them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Generic

from asyncchat.core.registry import P, Session

MAX_IGNORED = 100
"""Names one user may ignore at once: keeps the tables bounded by the sessions."""


class IgnoreTable(Generic[P]):
    __slots__ = ("_by_ignorer", "_ignorers")

    def __init__(self) -> None:
        self._by_ignorer: dict[Session[P], dict[str, str]] = {}
        self._ignorers: dict[str, set[Session[P]]] = {}

    def ignorers(self, key: str) -> Collection[Session[P]]:
        """The sessions that ignore this name key (empty for almost everyone)."""
        return self._ignorers.get(key, ())

    def ignores(self, who: Session[P], key: str) -> bool:
        return key in self._by_ignorer.get(who, {})

    def names(self, who: Session[P]) -> tuple[str, ...]:
        return tuple(sorted(self._by_ignorer.get(who, {}).values(), key=str.casefold))

    def ignore(self, who: Session[P], key: str, name: str) -> bool:
        """False if `who` already ignores MAX_IGNORED names."""
        mine = self._by_ignorer.setdefault(who, {})
        if key not in mine and len(mine) >= MAX_IGNORED:
            return False
        mine[key] = name
        self._ignorers.setdefault(key, set()).add(who)
        return True

    def unignore(self, who: Session[P], key: str) -> str | None:
        """The name that was ignored under `key`, or None if it was not."""
        mine = self._by_ignorer.get(who)
        if mine is None or key not in mine:
            return None
        name = mine.pop(key)
        if not mine:
            del self._by_ignorer[who]
        self._drop(key, who)
        return name

    def renamed(self, old_key: str, new_key: str, new_name: str) -> None:
        ignorers = self._ignorers.pop(old_key, None)
        if ignorers is None:
            return
        for who in ignorers:
            mine = self._by_ignorer[who]
            del mine[old_key]
            mine[new_key] = new_name
        self._ignorers.setdefault(new_key, set()).update(ignorers)

    def forget(self, who: Session[P]) -> None:
        """`who` left: their ignores end."""
        for key in self._by_ignorer.pop(who, {}):
            self._drop(key, who)

    @property
    def entries(self) -> int:
        """Entries held, for tests that check the table stays bounded."""
        return sum(len(mine) for mine in self._by_ignorer.values())

    def _drop(self, key: str, who: Session[P]) -> None:
        ignorers = self._ignorers[key]
        ignorers.discard(who)
        if not ignorers:
            del self._ignorers[key]
