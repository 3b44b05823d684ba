"""Playwright driving Debian's Chromium (/usr/bin/chromium) against Django's live_server.

No browser is ever downloaded. Outside CI the browser tests skip when Chromium is missing; with
CI=true they fail instead, so a CI run can never pass without having run them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"

# live_server runs Django in a thread; Playwright's sync API runs an event loop in this one.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # A Chromium per test module (a launch costs ~0.5 s): a module's tests cannot leave the next
    # module a browser in a strange state.
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}: CI must run the browser tests")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # The same patience for an expectation as for an action (Playwright's expect() waits 5 s by
    # default, its actions this context's 10 s): a loaded machine is slow, not wrong.
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, transactional_db) -> Iterator[object]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 860}, permissions=[]
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Chromium reports every Content Security Policy violation on the console; collect them across
    # navigations and fail the test if the portal's own pages caused any.
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{message.text} at {message.location}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    # A test may end while the page is still navigating (a click that leads elsewhere, then a check
    # made by an API request): Chromium can then never answer the context's disposal, and Playwright
    # waits on it without a timeout (seen in CI: the whole run hung). Let the navigation land first.
    from playwright.sync_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):  # one that does not load in time is closed as it is
        page.wait_for_load_state("load")
    context.close()
    assert not violations, f"CSP violations: {violations}"


@pytest.fixture
def sign_in(page, demo) -> Callable[[str], object]:
    """Sign in through the real login form, as a person would."""

    def do(email: str, password: str = "acme-demo-2026"):
        page.goto("/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return do


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[object, str], Path]:
    """Save a screenshot. Under docs/ (committed, linked from the README) only with
    UPDATE_SCREENSHOTS=1 (`make screenshots`): pixels differ slightly on every run, and a test run
    should not leave the working tree dirty."""
    target = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path

    def take(page, name: str) -> Path:
        target.mkdir(exist_ok=True)
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take
