"""The watchdog: restarts a qBittorrent that runs but whose Web UI no longer answers.

supervisord restarts qBittorrent when it exits, never when it hangs. While
supervisord says RUNNING and qBittorrent's Web UI port is open (its start-up
is over), the watchdog asks the Web UI for an answer every
``FSI_WATCHDOG_INTERVAL`` seconds; after ``FSI_WATCHDOG_FAILURES`` failed
checks in a row the service restarts it on the same port
(:meth:`QbittorrentService.restart_unresponsive`).

One thread per plugin process, and one process per program: the thread first
takes an flock on a file in ``FSI_HOME``, so a second plugin process on the
same home waits there (blocked, at no cost) and takes over when the first
one ends. While qBittorrent is not running the thread blocks on the state
cache's condition until supervisord reports a change: no timer wakes it.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from plugin.errors import FsiError
from plugin.lifecycle import QbittorrentService
from plugin.probes import listening
from plugin.rpc_client import SupervisorFault
from plugin.state_cache import ProcessState

#: The longest a check waits for its answer; a shorter interval is the limit instead.
CHECK_TIMEOUT = 10.0

log = logging.getLogger("qbittorrent_fsi.watchdog")

#: ``probe(port, pid, timeout)``: True answered, False not in time, None nothing to ask.
Probe = Callable[[int, int, float], "bool | None"]


def check_webui(port: int, pid: int, timeout: float) -> bool | None:
    """Whether ``pid``'s Web UI on 127.0.0.1:``port`` answers within ``timeout`` seconds.

    None when there is nothing to ask: ``pid`` does not listen on ``port``
    (still starting, or its Web UI is off), or not on 127.0.0.1 (the
    connection is refused; a hung process' never is). Any answer counts, an
    HTTP error page or a TLS server closing on plain HTTP alike, as it proves
    qBittorrent's event loop runs: a hung process' connections are accepted
    by the kernel, never answered.
    """
    if not listening(port, pid):
        return None
    deadline = time.monotonic() + timeout
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(request)
            sock.recv(1)  # its first byte, or its close
    except ConnectionRefusedError:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return True  # it closed the connection: it runs
    except OSError:  # no answer in time
        return False
    return True


def _owner_only(path: str, flags: int) -> int:
    # Mode 0600: whoever may open the lock file could hold it, and so stop the watchdog.
    return os.open(path, flags, 0o600)


class Watchdog:
    """Checks the running qBittorrent, counts failed checks, restarts it after too many."""

    def __init__(self, service: QbittorrentService, state: ProcessState, interval: float,
                 failures: int, kill_after: float, probe: Probe = check_webui,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.state = state
        self.interval = interval
        self.failures = failures
        self.kill_after = kill_after
        self.timeout = min(CHECK_TIMEOUT, interval)
        self.probe = probe
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.Lock()  # what report() reads
        self._pid: int | None = None  # the RUNNING pid being watched
        self._failed = 0  # its failed checks in a row
        self._checked = False
        self._restarts = 0
        self._last_restart: tuple[int, str] | None = None  # (Unix time, reason)
        self._next_check = 0.0
        self._problem: str | None = None
        self._closed = False

    @classmethod
    def for_service(cls, service: QbittorrentService) -> "Watchdog":
        settings = service.settings
        return cls(service, service.state, settings.watchdog_interval,
                   settings.watchdog_failures, settings.watchdog_kill_after)

    def report(self, pid: int | None) -> dict[str, Any]:
        """The status fields for ``pid``, the RUNNING qBittorrent (None when none runs)."""
        with self._lock:
            fields: dict[str, Any] = {"health": "unknown"}
            if pid is not None and pid == self._pid and self._checked:
                fields["health"] = "unresponsive" if self._failed else "ok"
                if self._failed:
                    fields["failed_checks"] = self._failed
            if self._last_restart is not None:
                fields["watchdog_restarts"] = self._restarts
                fields["watchdog_last_restart"], fields["watchdog_last_reason"] = \
                    self._last_restart
        return fields

    # -- the thread ------------------------------------------------------

    def start(self, lock_path: Path) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(lock_path,), name="fsi-watchdog",
                                  daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """End the thread after its current step (one blocked on the flock stays so)."""
        self._closed = True
        self.state.invalidate()  # wakes its wait

    def _run(self, lock_path: Path) -> None:
        try:
            lock_file = open(lock_path, "a", opener=_owner_only)
        except OSError as exc:
            log.error("watchdog off: cannot open %s: %s", lock_path, exc)
            return
        with lock_file:
            # Held until this process ends: another plugin process on this
            # FSI_HOME blocks here and watches once this one is gone.
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("watchdog: another plugin process watches qBittorrent; this one "
                         "takes over when that one ends")
                fcntl.flock(lock_file, fcntl.LOCK_EX)
            log.info("watchdog on: a check every %g s, a restart after %d failed in a row",
                     self.interval, self.failures)
            while not self._closed:
                try:
                    self.turn()
                    self._problem = None
                except (FsiError, SupervisorFault) as error:
                    self._pause(getattr(error, "msg", None) or str(error))
                except Exception:  # the thread must outlive a bug: log it, go on
                    log.exception("watchdog: unexpected error")
                    self._pause("unexpected error")

    def _pause(self, problem: str) -> None:
        if problem != self._problem:  # said once, not every interval
            log.warning("watchdog: cannot look at qBittorrent: %s", problem)
            self._problem = problem
        self.state.wait_for_change(self.state.generation, self.interval)

    # -- one step ----------------------------------------------------------

    def turn(self) -> None:
        """Wait for what is due next, or make the one check that is due and act on it."""
        generation = self.state.generation
        status = self.service.status()
        pid = status["pid"] if status["state"] == "running" else None
        if pid != self._pid:
            self._watch(pid)
        if pid is None:
            self._wait(generation, None)
            return
        due = self._next_check - self.clock()
        if due > 0:
            self._wait(generation, due)
            return
        self._next_check = self.clock() + self.interval
        answered = self.probe(status["port"], pid, self.timeout)
        if answered is None:
            return
        now = self.service.status()
        if now["state"] != "running" or now["pid"] != pid:
            log.info("watchdog: check of qBittorrent (pid %d) dropped: it is %s now",
                     pid, now["state"])
            return
        self._count(pid, status["port"], answered)
        if not answered and self._failed >= self.failures:
            self._restart(pid, status["port"])

    def _wait(self, generation: int, timeout: float | None) -> None:
        """Until the state changes, at most ``timeout`` s (an interval while no events come)."""
        if not self.state.connected:
            timeout = self.interval if timeout is None else min(timeout, self.interval)
        self.state.wait_for_change(generation, timeout)

    def _watch(self, pid: int | None) -> None:
        with self._lock:
            self._pid, self._failed, self._checked = pid, 0, False
        self._next_check = self.clock()

    def _count(self, pid: int, port: int, answered: bool) -> None:
        with self._lock:
            before = self._failed
            self._failed = 0 if answered else before + 1
            self._checked = True
        if not answered:
            log.warning("watchdog: qBittorrent (pid %d) did not answer on port %d within %g s "
                        "(%d of %d failed checks)", pid, port, self.timeout, before + 1,
                        self.failures)
        elif before:
            log.info("watchdog: qBittorrent (pid %d) answers again after %d failed check(s)",
                     pid, before)

    def _restart(self, pid: int, port: int) -> None:
        reason = "its Web UI on port %d did not answer %d checks in a row" % (
            port, self.failures)
        sent: list[str] = []

        def on_signal(signal: str) -> None:
            sent.append(signal)
            if signal == "TERM":
                log.warning("watchdog: restarting qBittorrent (pid %d): %s; SIGTERM sent",
                            pid, reason)
                with self._lock:
                    self._restarts += 1
                    self._last_restart = (int(self.wall_clock()), reason)
                return
            log.warning("watchdog: qBittorrent (pid %d) did not exit %g s after SIGTERM: "
                        "SIGKILL sent", pid, self.kill_after)
            with self._lock:
                at = self._last_restart[0] if self._last_restart else int(self.wall_clock())
                self._last_restart = (at, "%s; killed %g s after SIGTERM"
                                      % (reason, self.kill_after))

        try:
            status = self.service.restart_unresponsive(pid, self.kill_after, on_signal)
        except (FsiError, SupervisorFault) as error:
            log.error("watchdog: restart of qBittorrent (pid %d) failed: %s",
                      pid, getattr(error, "msg", None) or error)
            return
        if status is not None:
            log.info("watchdog: qBittorrent runs again as pid %s on port %s", status["pid"],
                     status["port"])
        elif sent:
            log.info("watchdog: restart of qBittorrent (pid %d) not finished: a start/stop "
                     "request or a start by hand took over", pid)
        else:
            log.info("watchdog: restart of qBittorrent (pid %d) skipped this round: a "
                     "start/stop is in progress or it no longer runs", pid)


def start_watchdog(service: QbittorrentService) -> Watchdog | None:
    """Watch ``service``'s qBittorrent from a thread (None when FSI_WATCHDOG_INTERVAL is 0)."""
    settings = service.settings
    if not settings.watchdog_interval:
        log.info("watchdog off (FSI_WATCHDOG_INTERVAL=0)")
        return None
    watchdog = Watchdog.for_service(service)
    service.report.health = watchdog.report
    watchdog.start(settings.home / ("%s-watchdog.lock" % settings.program))
    return watchdog
