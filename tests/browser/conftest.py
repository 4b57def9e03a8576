"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live server,
with a real Celery worker behind it."""

import os
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls in tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed: run 'apt-get install -y chromium' (make test does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def screenshots() -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


# A style flush first: a transition starts with the style change after a resize, which the first poll could
# otherwise run before (and find nothing moving). Endless animations (spinners) are not waited for.
_SETTLED = """() => {
    document.body.getBoundingClientRect();
    return document.getAnimations()
        .every(a => a.playState !== "running" || a.effect.getTiming().iterations === Infinity);
}"""


def shoot_at_widths(page, folder: Path, name: str, widths=(1366, 375), height: int = 800, full_page=False) -> None:
    """`<name>-<width>.png` at each width, each once the layout has settled (below 768 px the navigation
    slides away; toasts rise in), then the first width again."""
    for width in widths:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function(_SETTLED)
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=full_page)
    page.set_viewport_size({"width": widths[0], "height": height})
