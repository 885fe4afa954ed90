"""Run a coroutine on uvloop when it is installed, else on the stock loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from importlib.metadata import version
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        log.info("uvloop is not available; using the standard asyncio event loop")
        return asyncio.run(main)
    log.info("using uvloop %s", version("uvloop"))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
