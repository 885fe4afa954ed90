"""Run a Python server under cProfile, profiling only between SIGUSR1 and SIGUSR2.

    python bench/profiled.py OUT.prof -m asyncchat serve --port 0 ...
    python bench/profiled.py OUT.prof bench/relay.py 0

As `python -m cProfile -o OUT.prof ...` (the same profiler, the same wall
clock), except that it starts disabled: run.py sends SIGUSR1 when the room
is quiet and the first line is about to be sent, and SIGUSR2 when every line
arrived, so start-up, imports, the join storm and the shutdown stay out of
it. The stats are written when the server exits (on SIGTERM it exits
cleanly).
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    out, *command = sys.argv[1:]
    profiler = cProfile.Profile()

    def enable(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def disable(signum: int, frame: FrameType | None) -> None:
        profiler.disable()

    signal.signal(signal.SIGUSR1, enable)
    signal.signal(signal.SIGUSR2, disable)
    try:
        if command[0] == "-m":
            sys.argv = [command[1], *command[2:]]
            runpy.run_module(command[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = command
            sys.path.insert(0, os.path.dirname(os.path.abspath(command[0])))
            runpy.run_path(command[0], run_name="__main__")
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
