"""Repeated warnings: one line at once, then one line with a count per window."""

from __future__ import annotations

import logging

import pytest

from asyncchat.core.logthrottle import WarningThrottle

log = logging.getLogger("asyncchat.test")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_a_burst_is_one_line_then_one_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = WarningThrottle(log, clock, window=10)
    for i in range(1000):
        clock.now = i * 0.001
        throttle.warn("full", f"refused #{i}")
    assert messages(caplog) == ["refused #0"]
    throttle.flush()
    assert messages(caplog) == ["refused #0"]  # the window has not passed yet
    clock.now = 10.0
    throttle.flush()
    assert messages(caplog) == ["refused #0", "refused #999 (999 more times in the last 10 s)"]
    throttle.flush()
    assert len(messages(caplog)) == 2


def test_kinds_are_counted_apart_and_a_new_window_logs_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = WarningThrottle(log, clock, window=10)
    throttle.warn("a", "a0")
    throttle.warn("b", "b0")
    throttle.warn("a", "a1")
    clock.now = 11.0
    throttle.warn("a", "a2")
    assert messages(caplog) == ["a0", "b0", "a1 (1 more times in the last 11 s)", "a2"]


def test_everything_is_flushed_at_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = WarningThrottle(log, clock, window=10)
    throttle.warn("a", "a0")
    throttle.warn("a", "a1")
    throttle.flush(everything=True)
    assert messages(caplog) == ["a0", "a1 (1 more times in the last 0 s)"]
