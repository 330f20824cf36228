from __future__ import annotations

import pytest
from hypothesis import settings

from tests.stack import Stack


@pytest.fixture(scope="module")
def stack():
    """One real supervisord + plugin per test module; qBittorrent stopped between tests."""
    running = Stack().start()
    yield running
    running.close()


@pytest.fixture
def fresh_stack():
    """A stack of its own, for tests that break things."""
    running = Stack().start()
    yield running
    running.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # CI must fail, not skip, when a real part (supervisord, qbittorrent-nox) is missing.
    if terminalreporter.stats.get("skipped"):
        terminalreporter.write_line("FAILED: tests were skipped; every test must run",
                                    red=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


# Hypothesis: `make test` runs the "fsi" profile (700 examples per property, a few
# thousand in all); `make fuzz` selects "fuzz" with --hypothesis-profile=fuzz.
# No deadline: examples that hash a password take scrypt's time, by design.
settings.register_profile("fsi", max_examples=700, deadline=None)
settings.register_profile("fuzz", max_examples=4000, deadline=None)
settings.load_profile("fsi")
