"""The web page in a real browser: Debian's chromium driven by Playwright.

Never a downloaded browser: `/usr/bin/chromium` (CI installs the Debian
package). Where it is missing the tests are skipped, unless
ASYNCCHAT_REQUIRE_CLIENTS is set (CI sets it), so CI cannot pass without it.
Each test starts its own server on free loopback ports; every wait is
Playwright's own (for a selector, a text, a function) with a timeout.
"""

from __future__ import annotations

import os
import statistics
import struct
from pathlib import Path

import pytest
import trustme
from browsersupport import join, messages, needs_chromium, open_page, problems, say, url
from ircsupport import IRC
from playwright.async_api import Browser, expect
from support import Client, StartServer, issue

from asyncchat.edge.server import ChatServer

pytestmark = needs_chromium
SCREENSHOT = Path(__file__).parents[3] / "docs" / "web.png"


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server(web_port=0, irc_port=0)


async def test_two_pages_an_nc_user_and_an_irc_user_hold_one_conversation(
    browser: Browser, server: ChatServer
) -> None:
    ann = await join(browser, server, "Ann")
    bob = await join(browser, server, "Bob")
    carol = await Client.join(server.port, "Carol")
    dave = await IRC.register(server.port_of("irc"), "Dave")

    await say(ann, "hello from a browser")
    await expect(messages(bob).last).to_contain_text("Ann")
    await expect(messages(bob).last).to_contain_text("hello from a browser")
    assert (await carol.until(lambda line: "hello" in line))[-1] == "<Ann> hello from a browser"
    said = await dave.until(lambda m: m.command == "PRIVMSG")
    assert (said[-1].source or "").startswith("Ann!")
    assert said[-1].params == ("#lobby", "hello from a browser")

    carol.send("hi from nc")
    dave.send("PRIVMSG #lobby :hi from IRC")
    for page in (ann, bob):
        await expect(page.locator("#messages")).to_contain_text("hi from nc")
        await expect(page.locator("#messages")).to_contain_text("hi from IRC")
    own = ann.locator("#messages li.own")
    await expect(own).to_contain_text("hello from a browser")
    await expect(ann.locator("#who")).to_contain_text("Carol")
    await expect(ann.locator("#who")).to_contain_text("Dave")
    assert problems(ann) == problems(bob) == []
    await carol.close()


async def test_private_messages_by_clicking_a_name(browser: Browser, server: ChatServer) -> None:
    ann = await join(browser, server, "Ann")
    bob = await join(browser, server, "Bob")
    carol = await Client.join(server.port, "Carol")
    await ann.get_by_role("button", name="Write privately to Bob").click()
    await expect(ann.locator("#view-title")).to_have_text("Private: Bob")
    await say(ann, "just for you")
    await expect(bob.locator("#privates")).to_contain_text("Ann")
    await expect(bob.locator("#privates .unread")).to_have_text("1")
    assert (await bob.title()).startswith("(1) ")
    await bob.locator("#privates button").click()
    await expect(bob.locator("#messages")).to_contain_text("just for you")
    assert not (await bob.title()).startswith("(")
    carol.send("/ping done")
    seen = await carol.until(lambda line: line == "*** pong done")
    assert not any("just for you" in line for line in seen)
    await carol.close()


async def test_switching_rooms_shows_their_history(browser: Browser, server: ChatServer) -> None:
    carol = await Client.join(server.port, "Carol")
    carol.send("/join dev")
    await carol.until(lambda line: line.startswith("*** Now in #dev"))
    carol.send("the build is green", "/me ships it")
    await carol.quiet()
    ann = await join(browser, server, "Ann")
    await ann.fill("#new-room", "dev")
    await ann.press("#new-room", "Enter")
    await expect(ann.locator("#view-title")).to_have_text("#dev")
    await expect(ann.locator("#messages li.history")).to_have_count(2)
    await expect(ann.locator("#messages li.history").first).to_contain_text("the build is green")
    await expect(ann.locator("#messages li.history.action")).to_contain_text("ships it")
    await expect(ann.locator("#rooms")).to_contain_text("#lobby")
    await expect(ann.locator("#who")).to_contain_text("Carol")
    await ann.locator("#rooms button", has_text="#lobby").click()
    await expect(ann.locator("#view-title")).to_have_text("#lobby")
    await expect(ann.locator("#who")).not_to_contain_text("Carol")
    await say(ann, "/join dev")
    await expect(ann.locator("#view-title")).to_have_text("#dev")
    await carol.close()


async def test_a_refused_name_shows_the_servers_reason(
    browser: Browser, server: ChatServer
) -> None:
    carol = await Client.join(server.port, "Carol")
    page = await open_page(browser, server)
    await page.fill("#name", "carol")
    await page.press("#name", "Enter")
    await expect(page.locator("#login-error")).to_contain_text("taken")
    await page.fill("#name", "no spaces allowed")
    await page.press("#name", "Enter")
    await expect(page.locator("#login-error")).to_contain_text("a name")
    assert await page.locator("#chat").is_hidden()
    await page.fill("#name", "Ann")
    await page.press("#name", "Enter")
    await expect(page.locator("#status")).to_have_text("Connected as Ann")
    await carol.close()


async def test_markup_and_script_addresses_are_shown_as_text(
    browser: Browser, server: ChatServer
) -> None:
    ann = await join(browser, server, "Ann")
    carol = await Client.join(server.port, "Carol")
    attacks = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "try javascript:alert(3)",
        "[click](javascript:alert(4)) https://example.org/ok",
    ]
    for attack in attacks:
        carol.send(attack)
    for attack in attacks[:3]:
        await expect(ann.locator("#messages")).to_contain_text(attack)
    assert await ann.locator("#messages img, #messages script").count() == 0
    links = ann.locator("#messages a")
    await expect(links).to_have_count(1)
    assert await links.get_attribute("href") == "https://example.org/ok"
    assert await links.get_attribute("rel") == "noopener noreferrer nofollow"
    # The policy itself: an inline script put into the page does not run.
    ran = await ann.evaluate(
        """() => { const s = document.createElement("script");
        s.textContent = "window.__ran = true"; document.body.append(s); return !!window.__ran; }"""
    )
    assert ran is False
    assert problems(ann) == []
    await carol.close()


async def test_the_page_reconnects_after_a_server_restart(
    browser: Browser, start_server: StartServer
) -> None:
    first = await start_server(web_port=0)
    port = first.port_of("web")
    ann = await join(browser, first, "Ann")
    await say(ann, "/join dev")
    await expect(ann.locator("#view-title")).to_have_text("#dev")
    await first.shutdown()
    await expect(ann.locator("#status")).to_contain_text("reconnecting")
    second = await start_server(web_port=port)
    await expect(ann.locator("#status")).to_have_text("Connected as Ann", timeout=15_000)
    await expect(ann.locator("#view-title")).to_have_text("#dev")  # back where it was
    carol = await Client.join(second.port, "Carol")
    carol.send("/join dev")
    carol.send("welcome back")
    await expect(ann.locator("#messages")).to_contain_text("welcome back")
    await carol.close()


async def test_a_phone_sized_page_fits_and_opens_its_people_list(
    browser: Browser, server: ChatServer
) -> None:
    phone = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
    ann = await join(browser, server, "Ann", **phone)
    carol = await Client.join(server.port, "Carol")
    carol.send("a fairly long line " * 8 + "https://example.org/a/very/long/address/that/wraps")
    await expect(ann.locator("#messages")).to_contain_text("fairly long line")
    width = await ann.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert await ann.locator("#entry").is_visible()
    assert await ann.locator("#who").is_hidden()
    await ann.locator("#people-toggle").click()
    await expect(ann.locator("#who")).to_be_visible()
    await expect(ann.locator("#who")).to_contain_text("Carol")
    await carol.close()


async def test_mentions_are_highlighted_and_counted_in_the_title(
    browser: Browser, server: ChatServer
) -> None:
    ann = await join(browser, server, "Ann")
    carol = await Client.join(server.port, "Carol")
    carol.send("hey ann, look", "nothing for Annabel")
    await expect(ann.locator("#messages li.mention")).to_have_count(1)
    await expect(ann.locator("#messages li.mention")).to_contain_text("hey ann")
    await expect(ann.locator("#messages")).to_contain_text("nothing for Annabel")
    await ann.get_by_role("button", name="Write privately to Carol").click()
    carol.send("again, Ann")
    await expect(ann.locator("#rooms .unread.mentioned")).to_have_text("1")
    assert (await ann.title()).startswith("(1) ")
    await carol.close()


async def test_the_page_is_usable_by_keyboard_alone(browser: Browser, server: ChatServer) -> None:
    page = await open_page(browser, server)
    await expect(page.locator("#name")).to_be_focused()
    await page.keyboard.type("Ann")
    await page.keyboard.press("Enter")
    await expect(page.locator("#entry")).to_be_focused()
    carol = await Client.join(server.port, "Carol")
    await expect(page.locator("#who")).to_contain_text("Carol")
    await page.keyboard.type("typed, not clicked")
    await page.keyboard.press("Enter")
    assert (await carol.until(lambda line: "typed" in line))[-1] == "<Ann> typed, not clicked"
    for _ in range(12):  # to the who list, by Tab alone (bounded)
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.dataset.name || ''")
        if focused == "Carol":
            break
    assert focused == "Carol"
    await page.keyboard.press("Enter")
    await expect(page.locator("#view-title")).to_have_text("Private: Carol")
    await page.keyboard.type("privately")
    await page.keyboard.press("Enter")
    assert (await carol.until(lambda line: "privately" in line))[-1] == "*Ann* privately"
    await page.keyboard.press("Alt+ArrowUp")
    await expect(page.locator("#view-title")).to_have_text("#lobby")
    await page.keyboard.press("ArrowUp")
    await expect(page.locator("#entry")).to_have_value("privately")
    await carol.close()


async def test_new_messages_go_to_a_live_region(browser: Browser, server: ChatServer) -> None:
    ann = await join(browser, server, "Ann")
    log = ann.get_by_role("log")
    assert await log.get_attribute("aria-live") == "polite"
    carol = await Client.join(server.port, "Carol")
    carol.send("announced")
    await expect(log).to_contain_text("announced")
    await carol.close()


def _luminance(rgb: str) -> float:
    red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


async def test_dark_mode_follows_the_system(browser: Browser, server: ChatServer) -> None:
    light = await join(browser, server, "Ann", color_scheme="light")
    dark = await join(browser, server, "Bob", color_scheme="dark")
    script = "getComputedStyle(document.body).backgroundColor"
    assert _luminance(await light.evaluate(script)) > 200
    assert _luminance(await dark.evaluate(script)) < 60
    text = "getComputedStyle(document.body).color"
    assert _luminance(await dark.evaluate(text)) > 200


async def test_the_page_loads_in_under_200_ms(browser: Browser, server: ChatServer) -> None:
    """Navigation start to the load event, by the browser's Navigation Timing, in
    fresh contexts (nothing cached); the median of three."""
    took = []
    for _ in range(3):
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(url(server))
        await page.wait_for_function(
            "performance.getEntriesByType('navigation')[0].loadEventEnd > 0"
        )
        took.append(
            await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        )
        await context.close()
    assert statistics.median(took) < 200, took


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_screenshot_of_a_conversation(
    browser: Browser, server: ChatServer, tmp_path: Path
) -> None:
    """Saved to docs/web.png for the README when ASYNCCHAT_SCREENSHOT is set."""
    carol = await Client.join(server.port, "Carol")
    carol.send("/topic Plans for the weekend")
    carol.send("morning! who is up for a walk on Saturday?", "/ping ok")
    await carol.until(lambda line: line == "*** pong ok")
    ann = await join(browser, server, "Ann", viewport={"width": 1000, "height": 560})
    dave = await IRC.register(server.port_of("irc"), "Dave")
    dave.send("PRIVMSG #lobby :count me in, from my IRC client")
    await expect(ann.locator("#messages")).to_contain_text("count me in")
    await say(ann, "me too, Carol! from the browser")
    carol.send("/me packs sandwiches")
    carol.send("see https://example.org/trail for the route, Ann")
    await expect(ann.locator("#messages li.mention")).to_have_count(1)
    target = SCREENSHOT if os.environ.get("ASYNCCHAT_SCREENSHOT") else tmp_path / "web.png"
    await ann.screenshot(path=str(target))
    assert _png_size(target) == (1000, 560)
    await carol.close()


async def test_the_page_is_served_on_tls_too(
    browser: Browser, start_server: StartServer, tmp_path: Path
) -> None:
    pem = issue(trustme.CA(), tmp_path)
    server = await start_server(web_tls_port=0, tls_cert=pem, tls_key=pem, tls_port=0)
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    await page.goto(f"https://127.0.0.1:{server.port_of('web', tls=True)}/")
    await page.fill("#name", "Ann")
    await page.press("#name", "Enter")
    await expect(page.locator("#status")).to_have_text("Connected as Ann")
    await context.close()


async def test_own_lines_are_shown_as_the_room_got_them(
    browser: Browser, start_server: StartServer
) -> None:
    """The server echoes a browser user's public lines: `//text` shows as `/text`, and a
    line refused (muted) is an error, never shown as said."""
    server = await start_server(web_port=0, oper=("Op",))
    op = await Client.join(server.port, "Op")
    op.send("/register correct-horse")
    assert await op.line() == "*** 'Op' is registered to you"
    ann = await join(browser, server, "Ann")
    await say(ann, "//etc is a folder")
    own = ann.locator("#messages li.own")
    await expect(own).to_have_count(1)
    await expect(own).to_contain_text("/etc is a folder")
    op.send("/mute Ann")
    await op.until(lambda line: "Ann" in line and "mute" in line)
    await say(ann, "can anyone hear me")
    await expect(ann.locator("#messages li.error")).to_contain_text("mute")
    await expect(own).to_have_count(1)
    await op.close()


async def test_a_registered_name_asks_for_its_password_or_another_name(
    browser: Browser, server: ChatServer
) -> None:
    owner = await Client.join(server.port, "Carol")
    owner.send("/register correct-horse")
    assert await owner.line() == "*** 'Carol' is registered to you"
    page = await open_page(browser, server)
    await page.fill("#name", "Carol")
    await page.press("#name", "Enter")
    await expect(page.locator("#password")).to_be_visible()
    await expect(page.locator("#login-title")).to_contain_text("is registered")
    await page.fill("#password", "wrong-password")
    await page.press("#password", "Enter")
    await expect(page.locator("#login-error")).to_contain_text("wrong password")
    await page.fill("#name", "Carol")
    await page.press("#name", "Enter")
    await expect(page.locator("#password")).to_be_visible()
    await page.fill("#name", "Caroline")  # another name, not the password
    await page.press("#name", "Enter")
    await expect(page.locator("#status")).to_have_text("Connected as Caroline")
    await owner.close()
