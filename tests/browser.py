"""A real browser for tests: headless Chromium (Debian's `chromium`) driven by Playwright,
against the real portal served on 127.0.0.1 (a pytest plugin, registered in conftest).

Fixtures:
  chromium     (session) a launched Chromium; the tests skip without /usr/bin/chromium
               (`apt-get install chromium`; scripts/test installs it), and fail when CI=true
  live_portal  (function) the app on 127.0.0.1:<free port> in a threaded werkzeug server,
               HELPDESK_BASE_URL that address, mail delivered by a Sender thread to the
               `smtp_server` fixture, so a test reads its links from the mail received there
  browser      (function) a fresh browser context and page, with `shot(name)` saving a
               screenshot into the artefact folder and the console kept for CSP checks

Screenshots go to tests/artifacts/browser/<test>/ (git-ignored), or to
$HELPDESK_TEST_ARTIFACTS/browser/<test>/ when that is set; the folder is printed at the end
of the run. Playwright's own browser download does not work here: it is always started
with executable_path=/usr/bin/chromium and the flags from ../shared/NOTES.md.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO

CHROMIUM = Path(os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this machine's closed network refuses. Playwright adds a fresh --user-data-dir itself.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
_used_folders: set[Path] = set()


def artifacts_dir() -> Path:
    root = os.environ.get("HELPDESK_TEST_ARTIFACTS")
    return (Path(root) if root else REPO / "tests" / "artifacts") / "browser"


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; scripts/test does)"
        if IN_CI:
            pytest.fail(message + " (CI=true)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- the portal, served for real ------------------------------------------------------------


@dataclass
class LivePortal:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    config: object
    smtp: object  # the smtp_server fixture

    def mails_to(self, address: str) -> list:
        return [r.message for r in self.smtp.received if address.lower() in (a.lower() for a in r.rcpt_tos)]

    def wait_for_mail(self, address: str, count: int = 1, timeout: float = 20.0):
        """The `count`-th mail to `address` received by the SMTP server (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.mails_to(address)
            if len(mails) >= count:
                return mails[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"mail #{count} to {address} did not arrive within {timeout} s "
                             f"({len(self.mails_to(address))} did)")

    def link(self, message, path: str) -> str:
        """The full URL of the link to `path...` in a mail; it must point at this portal."""
        from tests.portal import body

        text = body(message)
        match = re.search(re.escape(self.url + path) + r"[^\s\"<>]*", text)
        assert match, f"no link to {self.url}{path} in:\n{text}"
        return match.group(0)


@pytest.fixture
def live_portal(config, db, smtp_server):
    from helpdesk.outgoing.sender import Sender
    from helpdesk.web import create_app
    from helpdesk.web.server import serve_in_thread

    holder = {}
    # Bind first (any free port), then build the app with that address as its base URL.
    server, serving = serve_in_thread(lambda environ, start: holder["app"](environ, start), "127.0.0.1", 0,
                                      name="live-portal")
    url = f"http://127.0.0.1:{server.server_port}"
    live_config = config.with_(base_url=url, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?starttls=no")
    holder["app"] = create_app(live_config, db=db)
    stop = threading.Event()
    sending = threading.Thread(target=Sender(live_config).run, args=(stop,), kwargs={"poll_seconds": 0.1},
                               name="live-sender", daemon=True)
    sending.start()
    try:
        yield LivePortal(url=url, config=live_config, smtp=smtp_server)
    finally:
        stop.set()
        server.shutdown()
        sending.join(10)
        serving.join(10)
        server.server_close()


# --- a page with screenshots and its console -----------------------------------------------------


@dataclass
class BrowserPage:
    page: object
    folder: Path
    console: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        """A full-page screenshot, numbered in the order taken: 01-register.png, ..."""
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    @property
    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Refused to" in m or "Content Security Policy" in m]


@pytest.fixture
def browser(chromium, request):
    folder = artifacts_dir() / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _used_folders.add(folder.parent)
    context = chromium.new_context(locale="pl-PL", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    opened = BrowserPage(page=page, folder=folder)
    page.on("console", lambda message: opened.console.append(f"{message.type}: {message.text}"))
    try:
        yield opened
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter):
    for folder in sorted(_used_folders):
        terminalreporter.write_line(f"browser screenshots: {folder}")
