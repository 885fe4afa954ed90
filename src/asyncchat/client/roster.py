"""The client's idea of who is around, kept current from server notices."""

from __future__ import annotations

from asyncchat.core.events import Event, Hello, Joined, Left, Online, Renamed, RoomEntered, Rooms

LOBBY = "lobby"


class Roster:
    """Names in the current room, rooms seen, the client's own name and room."""

    __slots__ = ("_names", "_rooms", "me", "room")

    def __init__(self, me: str = "") -> None:
        self.me = me
        self.room = LOBBY
        self._names: dict[str, str] = {}
        self._rooms: dict[str, str] = {LOBBY: LOBBY}

    @property
    def names(self) -> list[str]:
        return sorted(self._names.values(), key=str.casefold)

    @property
    def rooms(self) -> list[str]:
        return sorted(self._rooms.values(), key=str.casefold)

    def _reset(self, names: tuple[str, ...]) -> None:
        self._names = {name.casefold(): name for name in names}

    def apply(self, event: Event | None) -> None:
        match event:
            case Hello(me, online):
                self.me = me
                self.room = LOBBY
                self._reset(online)
            case RoomEntered(room, names):
                self.room = room
                self._rooms[room.casefold()] = room
                self._reset(names)
            case Rooms(rooms):
                self._rooms = {room.casefold(): room for room, _ in rooms}
            case Online(names):
                self._reset(names)
            case Joined(name, _):
                self._names[name.casefold()] = name
            case Left(name, _, _):
                self._names.pop(name.casefold(), None)
            case Renamed(old, new):
                self._names.pop(old.casefold(), None)
                self._names[new.casefold()] = new
                if old.casefold() == self.me.casefold():
                    self.me = new
