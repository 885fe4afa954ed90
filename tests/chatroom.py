"""A chat without sockets: the hub with the line protocol's parser and renderer.

`Room` connects named peers (plain strings stand for connections), feeds
what they type through the line parser, and resolves the hub's effects the
way the edge does. Core tests look at the events (`events_to`); line
protocol tests at the rendered lines (`Room.say`, `Room.heard`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from asyncchat.config import ServerConfig
from asyncchat.core.effects import (
    ClaimName,
    Close,
    Delivery,
    Effect,
    PasswordWork,
    ToEveryone,
    ToRoom,
    ToRooms,
    ToSession,
    ToSessions,
)
from asyncchat.core.events import (
    Event,
)
from asyncchat.core.hub import Hub
from asyncchat.core.names import Name
from asyncchat.core.registry import Session, State
from asyncchat.edge.passwords import compute
from asyncchat.frontends.line.framing import Line
from asyncchat.frontends.line.parser import interpret
from asyncchat.frontends.line.wire import render

Heard = list[tuple[str, str]]


class Room:
    def __init__(self, **config: Any) -> None:
        self.hub: Hub[str] = Hub(replace(ServerConfig(), **config))
        self.sessions: dict[str, Session[str]] = {}

    def heard(self, effects: list[Effect]) -> Heard:
        """Who receives which line, in dispatch order (addresses resolved as the edge does)."""
        by_id = {session.id: session for session in self.sessions.values()}
        said: Heard = []
        for effect in effects:
            if isinstance(effect, Close):
                continue
            if isinstance(effect, ClaimName):
                holder = self.hub.directory.claim(Name(effect.display, effect.key))
                said += self.heard(self.hub.claimed(effect, holder))
                continue
            if isinstance(effect, PasswordWork):  # the edge does this in a thread
                said += self.heard(self.hub.password_done(effect, compute(effect)))
                continue
            to = effect.to
            if isinstance(to, ToRoom):
                targets = [
                    s
                    for s in self.hub.members(to.room)
                    if s.id != to.exclude and s.id not in to.skip
                ]
            elif isinstance(to, ToSession):
                targets = [by_id[to.id]]
            elif isinstance(to, ToRooms):
                once = {s.id: s for room in to.rooms for s in self.hub.members(room)}
                targets = list(once.values())
            elif isinstance(to, ToEveryone):
                targets = list(self.hub.named())
            else:
                targets = [by_id[id] for id in to.ids]
            said += [(s.peer, line) for s in targets for line in render(effect.event)]
        return said

    def connect(self, peer: str) -> Heard:
        session, greeting = self.hub.connect(peer)
        self.sessions[peer] = session
        return self.heard(greeting)

    def say(self, peer: str, text: str) -> Heard:
        """As if typed on the line protocol: its parser makes the command."""
        session = self.sessions[peer]
        asked = interpret(Line(text), session.state is State.NAMING)
        assert not isinstance(asked, list)
        return [] if asked is None else self.heard(self.hub.handle(session, asked))

    def join(self, *peers: str) -> None:
        for peer in peers:
            self.connect(peer)
            assert self.say(peer, peer)[0][1].startswith(f"*** Hello {peer}!")


def events_to(room: Room, peer: str, effects: list[Effect]) -> list[Event]:
    """The events one session receives from these effects (resolved as the edge does)."""
    target = room.sessions[peer]
    got: list[Event] = []
    for effect in effects:
        if not isinstance(effect, Delivery):
            continue
        to = effect.to
        match to:
            case ToRoom(key, exclude, skip):
                hit = key in target.rooms and target.id != exclude and target.id not in skip
            case ToRooms(keys):
                hit = any(key in target.rooms for key in keys)
            case ToSession(id):
                hit = id == target.id
            case ToSessions(ids):
                hit = target.id in ids
        if hit:
            got.append(effect.event)
    return got
