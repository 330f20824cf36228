"""qBittorrent left running on this install's profile by a supervisord that died.

supervisord gives each child a process group of its own, so a supervisord
killed outright (SIGKILL, the OOM killer) leaves qBittorrent running, adopted
by init: it still holds the profile (qBittorrent runs one instance per
profile) and its Web UI port, and the next supervisord knows nothing of it.
The next plugin looks for such a process once and stops it the way
supervisord would have: SIGTERM, the stop grace for its resume data, then
SIGKILL. It is found by its command line (``--profile=`` of this install)
and held by a pidfd, so a pid reused meanwhile is never signalled.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from plugin.diagnostics import QBITTORRENT_BINARY
from plugin.errors import FsiError
from plugin.probes import arguments, await_pidfd, command_line, process_ids
from plugin.program_config import port_in_command
from plugin.rpc_client import SupervisorFault

#: How long an orphan may take to go after the SIGKILL that ends its grace (seconds).
KILL_WAIT = 5.0

log = logging.getLogger("qbittorrent_fsi")


@dataclass(frozen=True)
class Orphan:
    """A qBittorrent that supervisord does not run, being stopped."""

    pid: int
    #: Its Web UI port, from its command line.
    port: int | None
    #: When its SIGTERM was sent (monotonic seconds).
    since: float
    #: Why the plugin could not signal it; None when the SIGTERM went out. It is
    #: reported for the stop grace all the same, then only in the plugin's log.
    error: str | None = None


class OrphanStopper:
    """Finds, once, the qBittorrent of a profile that supervisord does not run, and stops it.

    ``supervised_pid`` asks supervisord for the pid of its own qBittorrent
    (None when it runs none); that process is never an orphan.
    """

    def __init__(self, profile: Path, grace: float,
                 supervised_pid: Callable[[], int | None]) -> None:
        self.grace = grace
        self._profile_argument = b"--profile=" + os.fsencode(profile)
        self._binary = os.fsencode(QBITTORRENT_BINARY)
        self._supervised_pid = supervised_pid
        self._lock = threading.Lock()
        self._searched = False
        self._orphans: tuple[Orphan, ...] = ()

    def current(self) -> Orphan | None:
        """The orphan still being stopped, if any; the first call looks for orphans.

        The look asks supervisord only when it finds a candidate; when that
        fails (FsiError, SupervisorFault), the next call looks again.
        """
        if not self._searched:
            with self._lock:
                if not self._searched:
                    self._stop(self._find())
                    self._searched = True
        orphans = self._orphans
        return orphans[0] if orphans else None

    def search_in_background(self) -> None:
        """Look for orphans now, without holding up the caller (the plugin's start)."""
        def search() -> None:
            with contextlib.suppress(FsiError, SupervisorFault):
                self.current()

        threading.Thread(target=search, name="fsi-orphans", daemon=True).start()

    def _runs_profile(self, pid: int) -> bool:
        args = arguments(pid)
        return bool(args) and os.path.basename(args[0]) == self._binary \
            and self._profile_argument in args[1:]

    def _hold(self, pid: int) -> int | None:
        """A pidfd of ``pid`` when it runs qBittorrent on the profile, else None."""
        if not self._runs_profile(pid):
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None  # exited meanwhile
        if self._runs_profile(pid):  # the pidfd holds that same process, not a reused pid
            return pidfd
        os.close(pidfd)
        return None

    def _find(self) -> dict[int, int]:
        """pidfds, by pid, of the profile's qBittorrent processes that supervisord does not run."""
        held = {}
        for pid in process_ids():
            pidfd = self._hold(pid)
            if pidfd is not None:
                held[pid] = pidfd
        try:
            # Asked after the scan: a child supervisord spawned meanwhile is known to it.
            child = self._supervised_pid() if held else None
        except BaseException:
            for pidfd in held.values():
                os.close(pidfd)
            raise
        if child in held:
            os.close(held.pop(child))
        return held

    def _stop(self, found: dict[int, int]) -> None:
        """SIGTERM every orphan now; a thread waits for each and ends its grace with SIGKILL."""
        stopping = [(self._terminate(pid, pidfd), pidfd) for pid, pidfd in found.items()]
        self._orphans = tuple(orphan for orphan, _ in stopping)
        if stopping:
            threading.Thread(target=self._await_all, args=(stopping,), name="fsi-orphans",
                             daemon=True).start()

    def _terminate(self, pid: int, pidfd: int) -> Orphan:
        port = port_in_command(command_line(pid) or b"")
        error = None
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        except ProcessLookupError:
            pass  # exited by itself: its pidfd is readable already
        except PermissionError:
            error = "this plugin may not signal it (another user): stop it by hand"
        log.warning("qBittorrent pid %d (port %s) was left running by a supervisord that "
                    "died: %s", pid, port, error or "SIGTERM sent, it saves resume data")
        return Orphan(pid, port, time.monotonic(), error)

    def _await_all(self, stopping: list[tuple[Orphan, int]]) -> None:
        for orphan, pidfd in stopping:
            try:
                self._await(orphan, pidfd)
            finally:
                os.close(pidfd)
                self._orphans = tuple(each for each in self._orphans if each is not orphan)

    def _await(self, orphan: Orphan, pidfd: int) -> None:
        if await_pidfd(pidfd, orphan.since + self.grace):
            log.info("qBittorrent pid %d left by a dead supervisord has exited", orphan.pid)
            return
        if orphan.error is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            if await_pidfd(pidfd, time.monotonic() + KILL_WAIT):
                log.warning("qBittorrent pid %d left by a dead supervisord was killed after "
                            "its %g s grace", orphan.pid, self.grace)
                return
        log.error("qBittorrent pid %d left by a dead supervisord still runs after its grace: "
                  "stop it by hand", orphan.pid)
