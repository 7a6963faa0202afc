"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from
# a thread with a running loop unless told that this is intended (tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def log_in(page):
    """Log in through the real form: `log_in("preparer")`."""

    def _log_in(username: str, password: str = "demo"):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return _log_in


# Collected in the page, before any of its own scripts run.
_COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture
def csp_violations(page):
    """`csp_violations()`: the CSP violations the browser reported since the last call, from the
    console and from the DOM event (and any uncaught page error)."""
    found: list[str] = []
    page.add_init_script(_COLLECT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))

    def collect() -> list[str]:
        reported = found + page.evaluate("(window.__cspViolations || []).splice(0)")
        found.clear()
        return reported

    return collect
