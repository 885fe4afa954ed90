"""The registry's sorted name lists stay right whatever happens."""

from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core.names import Name, name_key
from asyncchat.core.registry import Registry, Session

names = st.sampled_from(["alice", "Bob", "carol", "Dave", "eve", "Zoë", "ÉMILE", "bo", "b.o"])
rooms = st.sampled_from(["lobby", "games", "dev"])
actions = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "rename", "move", "enter", "leave"]), names, rooms)
)


@given(actions)
def test_names_are_always_the_members_sorted_without_case(
    steps: list[tuple[str, str, str]],
) -> None:
    registry: Registry[None] = Registry()
    for action, name, room in steps:
        key = name_key(name)
        holder = registry.get(key)
        if action == "add" and holder is None:
            registry.add(Session(None), Name(name, key), Name(room, room))
        elif action == "remove" and holder is not None:
            registry.remove(holder)
        elif action == "move" and holder is not None and holder.room != room:
            for left in list(holder.rooms):
                registry.leave(holder, left)
            registry.enter(holder, Name(room, room))
        elif action == "enter" and holder is not None:
            registry.enter(holder, Name(room, room))
            assert holder.room == room
        elif action == "leave" and holder is not None and room in holder.rooms:
            registry.leave(holder, room)
            assert holder.room == next(reversed(holder.rooms), "")
        elif action == "rename" and holder is not None:
            others = [s for s in registry.members(holder.room) if s is not holder]
            new = name[::-1] + "x"
            if registry.get(name_key(new)) is None:
                registry.rename(holder, Name(new, name_key(new)))
            assert all(s in registry.members(holder.room) for s in others)
        for each in ("lobby", "games", "dev"):
            members = registry.members(each)
            expected = tuple(sorted((s.name for s in members), key=str.casefold))
            assert registry.names(each) == expected
            assert all(each in s.rooms for s in members)
        assert registry.room_count() == sum(
            bool(registry.members(r)) for r in ("lobby", "games", "dev")
        )
