"""What the edge can learn of a TCP peer from its socket alone, for every front end.

Keepalive finds a peer that vanished without a word; TCP_INFO tells, while a
transport is not reading (flood control paused it), whether the peer has
already reset or closed its side.
"""

from __future__ import annotations

import socket

from asyncchat.core.events import LeaveReason

KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 10, 6
"""A silent peer is probed after 60 s and dropped after 6 unanswered probes: ~2 min."""
USER_TIMEOUT_MS = 120_000
"""Keepalive probes wait while sent data is unacknowledged; this drops such a peer too."""

_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8


def keep_alive(sock: socket.socket) -> None:
    """TCP keepalive and a user timeout, so a peer that vanished without a word is found,
    whether or not output to it is still unacknowledged."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def peer_state(sock: socket.socket | None) -> LeaveReason | None:
    """RESET or CLOSED if the peer has reset or closed its side, else None.

    Read from TCP_INFO (Linux), which works while the transport is not reading;
    elsewhere this knows nothing and the transport finds out when it reads.
    """
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return LeaveReason.RESET
    if state == _TCP_CLOSE:
        return LeaveReason.RESET
    if state == _TCP_CLOSE_WAIT:
        return LeaveReason.CLOSED
    return None
