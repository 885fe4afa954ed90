"""History and accounts in a cluster: what the hub hands over is held until the
edge publishes it with the entry that caused it (in the same transaction).

Pure: the edge drains these after each hub call (cluster/dispatch.py).
"""

from __future__ import annotations

from typing import Any

from asyncchat.cluster.codec import dump, dump_kept
from asyncchat.core.accounts import Account
from asyncchat.core.events import Record
from asyncchat.core.moderation import Ban, Mute

KeptWrite = tuple[str, str, str | None]
"""(hash, field, JSON value or None to delete)."""


def ban_field(ban: Ban) -> str:
    return f"{ban.kind.value}:{ban.target}"


class SharedHistory:
    """The public lines said here since the last drain (each goes to its room's stream)."""

    def __init__(self) -> None:
        self._said: list[Record] = []

    def put(self, record: Record) -> None:
        self._said.append(record)

    def recent(self, room: str, limit: int) -> list[Record]:
        """Never asked: a node's history cache is fed from the log (see Hub's
        `shared_history`)."""
        return []

    def drain(self) -> list[Record]:
        said, self._said = self._said, []
        return said


class SharedKept:
    """Accounts, bans and mutes as read at start, and the changes made here since."""

    def __init__(self, accounts: list[Account], bans: list[Ban], mutes: list[Mute]) -> None:
        self._accounts, self._bans, self._mutes = accounts, bans, mutes
        self._ops: list[list[Any]] = []
        self._writes: list[KeptWrite] = []

    def accounts(self) -> list[Account]:
        return self._accounts

    def bans(self) -> list[Ban]:
        return self._bans

    def mutes(self) -> list[Mute]:
        return self._mutes

    def save_account(self, account: Account) -> None:
        self._ops.append(["account", dump(account)])
        self._writes.append(("accounts", account.key, dump_kept(account)))

    def drop_account(self, key: str) -> None:
        self._ops.append(["drop-account", key])
        self._writes.append(("accounts", key, None))

    def save_ban(self, ban: Ban) -> None:
        self._ops.append(["ban", dump(ban)])
        self._writes.append(("bans", ban_field(ban), dump_kept(ban)))

    def drop_ban(self, ban: Ban) -> None:
        self._ops.append(["drop-ban", dump(ban)])
        self._writes.append(("bans", ban_field(ban), None))

    def save_mute(self, mute: Mute) -> None:
        self._ops.append(["mute", dump(mute)])
        self._writes.append(("mutes", mute.key, dump_kept(mute)))

    def drop_mute(self, key: str) -> None:
        self._ops.append(["drop-mute", key])
        self._writes.append(("mutes", key, None))

    def drain(self) -> tuple[list[list[Any]], list[KeptWrite]]:
        """The changes for other nodes (log entry ops) and for Redis's hashes."""
        ops, writes = self._ops, self._writes
        self._ops, self._writes = [], []
        return ops, writes
