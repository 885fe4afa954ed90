"""Readiness for a service manager: systemd's notify protocol, without a library.

With `Type=notify`, systemd starts what depends on the chat only once it
listens, and knows it is stopping before it exits. The protocol is one
datagram to the socket named in NOTIFY_SOCKET (a path, or `@name` for
Linux's abstract namespace); without that variable this does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager; True if one listens."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or not hasattr(socket, "AF_UNIX"):
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as problem:
        log.warning("could not tell the service manager %r: %s", state.split("=")[0], problem)
        return False
    return True
