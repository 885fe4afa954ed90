"""The hub: every decision the server makes, as plain Python (commands in, effects out)."""

from asyncchat.core.hub.routing import LOBBY, Hub

__all__ = ["LOBBY", "Hub"]
