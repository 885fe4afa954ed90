"""Debian's chromium through Playwright for the web page's tests: never a downloaded
browser. Where chromium is missing the tests are skipped, unless
ASYNCCHAT_REQUIRE_CLIENTS is set (CI sets it), so CI cannot pass without it."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from asyncchat.edge.server import ChatServer

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("ASYNCCHAT_REQUIRE_CLIENTS"),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Root in a container needs --no-sandbox; the rest keep chromium off the network."""
WAIT = 5000
"""Milliseconds any expectation waits for the page."""

expect.set_options(timeout=WAIT)


async def launched() -> AsyncIterator[Browser]:
    """A browser for one test (the `browser` fixture in conftest.py)."""
    assert CHROMIUM is not None, "chromium is required here (ASYNCCHAT_REQUIRE_CLIENTS)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


def url(server: ChatServer) -> str:
    return f"http://127.0.0.1:{server.port_of('web')}/"


async def open_page(browser: Browser, server: ChatServer, **options: Any) -> Page:
    page = await browser.new_page(**options)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.problems = problems  # type: ignore[attr-defined]
    await page.goto(url(server))
    return page


async def join(browser: Browser, server: ChatServer, name: str, **options: Any) -> Page:
    page = await open_page(browser, server, **options)
    await page.fill("#name", name)
    await page.press("#name", "Enter")
    await expect(page.locator("#status")).to_have_text(f"Connected as {name}")
    return page


async def say(page: Page, text: str) -> None:
    await page.fill("#entry", text)
    await page.press("#entry", "Enter")


def messages(page: Page) -> Any:
    return page.locator("#messages li")


def problems(page: Page) -> list[str]:
    found: list[str] = page.problems  # type: ignore[attr-defined]
    return found
