"""Password hashing off the event loop: the hub's PasswordWork runs in worker threads.

argon2-cffi releases the GIL while it hashes, so with one thread per core
the loop keeps answering everyone else while passwords are checked. How
many hashes may wait is bounded by the hub (MAX_HASHING), not here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asyncchat.core.effects import PasswordWork
from asyncchat.core.passwords import hash_password, verify_password

log = logging.getLogger(__name__)

Done = Callable[[PasswordWork, bool | str], None]


def compute(work: PasswordWork) -> bool | str:
    """The work itself: blocking, for a worker thread."""
    if work.secret is None:
        return hash_password(work.password)
    return verify_password(work.secret, work.password)


class PasswordWorker:
    """A small pool of threads for hashes; results come back on the loop."""

    def __init__(self, threads: int | None = None) -> None:
        count = threads or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="password")

    def run(self, work: PasswordWork, done: Done) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, compute, work)

        def finished(future: asyncio.Future[bool | str]) -> None:
            if future.cancelled():
                return
            problem = future.exception()
            if problem is not None:
                log.error("a password hash failed: %r", problem)
                done(work, False)
                return
            done(work, future.result())

        future.add_done_callback(finished)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
