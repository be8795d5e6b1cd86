"""Driving headless Chromium (Debian's ``/usr/bin/chromium``) with Playwright, for the chat's
browser tests. Playwright is only the remote control: it never downloads a browser here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 900, "height": 600}
WAIT_MS = 10_000


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A browser context with a fresh ``--user-data-dir`` (``profile``; Playwright passes it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport=VIEWPORT, ignore_https_errors=True)  # the HTTPS tests' CA is their own
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, http_port: int, nick: str, scheme: str = "http") -> Any:
    """A page that has loaded the chat, chosen ``nick`` and joined the lobby."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{scheme}://127.0.0.1:{http_port}/")
    page.wait_for_selector("#status.online", timeout=WAIT_MS)
    say(page, nick)
    expect(page.locator("#me")).to_have_text(nick, timeout=WAIT_MS)
    expect(page.locator("#room")).to_have_text("#lobby", timeout=WAIT_MS)
    return page


def say(page: Any, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def sees(page: Any, line: str) -> None:
    """Wait until ``line`` is one of the lines in the page's log."""
    from playwright.sync_api import expect

    log_line = page.locator("#log .line", has_text=line)
    expect(log_line.last).to_have_text(line, timeout=WAIT_MS)
