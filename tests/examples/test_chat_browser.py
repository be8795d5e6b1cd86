"""The chat in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Playwright is only the remote control: it launches ``/usr/bin/chromium``
(never a downloaded browser) with a fresh profile directory, and the pages
load ``examples/chat/web/`` from the chat server's HTTP port and talk to
it over ``/ws``, beside a plain TCP client in the same room.
"""

from __future__ import annotations

import io
import shutil
import signal

import pytest

from tests.helpers.browser import CHROMIUM, VIEWPORT, WAIT_MS, open_page, say, sees
from tests.helpers.chat_harness import ChatProcess, Client, clients

sync_api = pytest.importorskip("playwright.sync_api")
Image = pytest.importorskip("PIL.Image")

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                       reason=f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)"),
]


def test_two_pages_and_a_tcp_client_in_one_room_see_each_other(browser: object) -> None:
    with ChatProcess() as server:
        assert server.http_port is not None
        (alice,) = clients(server.port, ["alice"])
        with alice:
            one = open_page(browser, server.http_port, "pageone")
            alice.expect("[lobby] * pageone joined")
            two = open_page(browser, server.http_port, "pagetwo")
            alice.expect("[lobby] * pagetwo joined")
            sees(one, "[lobby] * pagetwo joined")
            # Everyone moves to room dev: the page's room label and room list follow.
            for page in (one, two):
                say(page, "/join dev")
            alice.send("/join dev")
            alice.skip_until("[dev] * alice joined")
            for page in (one, two):
                sync_api.expect(page.locator("#room")).to_have_text("#dev", timeout=WAIT_MS)
                sees(page, "[dev] * alice joined")
            sync_api.expect(one.locator("#rooms li.current")).to_have_text(
                "dev (3)", timeout=WAIT_MS)
            # Messages, each way, with the sender shown.
            alice.send("hello from nc")
            say(one, "hello from page one")
            say(two, "hello from page two \x1b[2J")
            for page in (one, two):
                sees(page, "[dev] <alice> hello from nc")
                sees(page, "[dev] <pageone> hello from page one")
                sees(page, "[dev] <pagetwo> hello from page two ^[[2J")
            alice.skip_until("[dev] <pageone> hello from page one")
            alice.skip_until("[dev] <pagetwo> hello from page two ^[[2J")
            sync_api.expect(one.locator("#log .line .sender").last).to_have_text("<pagetwo>")
            shot = one.screenshot()
            # A page leaving is announced to the others.
            two.close()
            alice.skip_until("[dev] * pagetwo left (connection closed)")
            sees(one, "[dev] * pagetwo left (connection closed)")
        server.stop()
    check_screenshot(shot)


def check_screenshot(png: bytes) -> None:
    """The screenshot is the page drawn, not a blank: its size, header band and text."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "too few colours: a blank page?"
    most = max(count for count, _ in colours)
    assert most < 0.9 * image.width * image.height, "one colour covers 90 %: a blank page?"
    # The header (#24346b) runs across the top; the log below is light with dark text.
    header = image.getpixel((image.width // 2, 5))
    assert header == (0x24, 0x34, 0x6B), header
    log = image.crop((image.width // 3, 60, image.width, image.height - 60))
    pixels = log.tobytes()  # RGB triples
    dark = sum(1 for i in range(0, len(pixels), 3) if sum(pixels[i:i + 3]) < 200)
    assert dark > 500, f"only {dark} dark pixels where the messages are: no text drawn?"


def test_the_page_reconnects_after_a_server_restart_and_chats_again(browser: object) -> None:
    with ChatProcess() as first:
        assert first.http_port is not None
        http_port = first.http_port
        page = open_page(browser, http_port, "phoenix")
        first.stop(signal.SIGTERM)
    sees(page, "! bye: server shutting down")
    sync_api.expect(page.locator("#status")).to_have_class("offline", timeout=WAIT_MS)
    with ChatProcess("--http-port", str(http_port)) as second:
        with Client(second.port, "tcp") as tcp:
            tcp.expect("[lobby] * tcp joined")
            # The page reconnects with backoff and gives its nick again.
            tcp.skip_until("[lobby] * phoenix joined")
            sync_api.expect(page.locator("#status")).to_have_class("online", timeout=WAIT_MS)
            say(page, "back again")
            tcp.skip_until("[lobby] <phoenix> back again")
            tcp.send("welcome back")
            sees(page, "[lobby] <tcp> welcome back")
        second.stop()
