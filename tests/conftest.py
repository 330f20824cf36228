from __future__ import annotations

import os
from typing import Iterator

import pytest
from hypothesis import settings

from tests.local_server import LocalServer
from tests.orphan_fakes import Fakes
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack():
    """One real supervisord + plugin per test module; qBittorrent stopped between tests."""
    running = Stack().start()
    yield running
    running.close()


@pytest.fixture
def stopped_after(stack):
    """Leave qBittorrent stopped for the next test of the module."""
    yield
    stack.call("stop")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app and waitress in this process, with a Dummy qBittorrent service."""
    running = LocalServer(tmp_path_factory.mktemp("home"))
    yield running
    running.close()


@pytest.fixture
def fresh_stack():
    """A stack of its own, for tests that break things."""
    running = Stack().start()
    yield running
    running.close()


@pytest.fixture
def fakes(tmp_path) -> Iterator[Fakes]:
    """Stand-ins for an orphaned qBittorrent, killed by pid at the end whatever happened."""
    (tmp_path / "bin").mkdir()
    fakes = Fakes(tmp_path / "bin")
    yield fakes
    for fake in fakes.started:
        fake.end()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (which never downloads a browser here)."""
    from playwright.sync_api import sync_playwright  # the browser tests' own dependency

    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError("browser tests need Debian's chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield launched
        launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # CI must fail, not skip, when a real part (supervisord, qbittorrent-nox,
    # chromium) is missing: a skip anywhere is reported as a failure.
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = "skipped, but every test must run: %s" % (report.longrepr,)


# Hypothesis: `make test` runs the "fsi" profile (700 examples per property, a few
# thousand in all); `make fuzz` selects "fuzz" with --hypothesis-profile=fuzz.
# No deadline: examples that hash a password take scrypt's time, by design.
settings.register_profile("fsi", max_examples=700, deadline=None)
settings.register_profile("fuzz", max_examples=4000, deadline=None)
settings.load_profile("fsi")
