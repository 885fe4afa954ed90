"""One node of a cluster, assembled: the link, a hub over the cluster's
directory, and the dispatcher between them (the daemon's `--redis`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from asyncchat.cluster.directory import NODE_SHIFT, ClusterDirectory
from asyncchat.cluster.dispatch import ClusterDispatcher
from asyncchat.cluster.link import Link, Snapshot
from asyncchat.cluster.stores import SharedHistory, SharedKept
from asyncchat.config import ServerConfig
from asyncchat.core.hub import Hub
from asyncchat.edge.outbox import Peer
from asyncchat.edge.passwords import PasswordWorker


@dataclass(slots=True)
class Node:
    link: Link
    hub: Hub[Peer]
    dispatch: ClusterDispatcher
    snapshot: Snapshot

    def start(self) -> None:
        """Read the log from the snapshot on: from here on the node is live."""
        self.link.start(self.dispatch.handlers(), self.snapshot)

    async def close(self) -> None:
        """After the hub's shutdown was dispatched: the others are told, then we go."""
        await self.link.close()


async def open_node(config: ServerConfig, worker: PasswordWorker) -> Node:
    """Join the cluster at `config.redis` (raises link.Unreachable)."""
    link = Link(
        config.redis,
        rooms=config.max_rooms,
        lines=config.history,
        keep=config.history_keep,
        most=config.history_max_rows,
    )
    snapshot = await link.open()
    directory: ClusterDirectory[Peer] = ClusterDirectory(link.node, cast(Peer, None))
    history = SharedHistory()
    kept = SharedKept(snapshot.accounts, snapshot.bans, snapshot.mutes)
    hub = Hub(
        config,
        directory=directory,
        store=history,
        kept=kept,
        first_id=link.node << NODE_SHIFT,
        shared_history=True,
    )
    for record in snapshot.history:
        hub.history.add(record)
    dispatch = ClusterDispatcher(hub, directory, worker, link, history, kept)
    dispatch.reload(snapshot)
    return Node(link, hub, dispatch, snapshot)
