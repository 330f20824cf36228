"""Stand-ins for a qBittorrent left running by a dead supervisord.

tests/fake_qbittorrent.py, run through a link named ``qbittorrent-nox`` with
``--profile=``, so that its command line reads as qBittorrent's on a profile.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plugin.probes import listening
from tests.stack import free_port, wait_for

FAKE = Path(__file__).with_name("fake_qbittorrent.py")


class FakeQbittorrent:
    """tests/fake_qbittorrent.py run as ``.../qbittorrent-nox --profile=<profile>``, listening."""

    def __init__(self, binary: Path, profile: Path, term_delay: float = 0.0) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(binary), str(FAKE), "--profile=%s" % profile,
             "--webui-port=%d" % self.port, "--term-delay=%g" % term_delay],
            stdout=subprocess.PIPE, text=True)
        self.pid = self.process.pid
        # Listening means its SIGTERM handler is in place.
        assert wait_for(lambda: listening(self.port, self.pid), timeout=10)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.process.stdout.close()


class Fakes:
    """Stand-ins started by one test, and the Python they run as ``qbittorrent-nox``."""

    def __init__(self, directory: Path) -> None:
        # A link, not argv[0] alone: Python finds its standard library from it.
        self.binary = directory / "qbittorrent-nox"
        self.binary.symlink_to(sys.executable)
        self.started: list[FakeQbittorrent] = []

    def start(self, profile: Path, term_delay: float = 0.0) -> FakeQbittorrent:
        fake = FakeQbittorrent(self.binary, profile, term_delay)
        self.started.append(fake)
        return fake
