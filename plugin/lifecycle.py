"""Starting, stopping and restarting qBittorrent through supervisord, and their waits.

supervisord owns the process; this module only asks it to act and reads its
answers (what ``status`` makes of them is :mod:`plugin.status`). Lifecycle
operations (start, stop, restart) are serialized by one lock: a request that
cannot get it within ``busy_wait`` answers 9992 rather than queueing behind
a stop that may take minutes. A qBittorrent that a dead supervisord left
running on the profile (:mod:`plugin.orphans`) is stopped first; until it
is gone, status reports it and lifecycle requests answer 9992.
"""
from __future__ import annotations

import contextlib
import pwd
import time
import threading
from typing import Any, Callable, Iterator

from supervisor.states import ProcessStates

from plugin import diagnostics
from plugin.autostart import AutostartChoice
from plugin.errors import Err, FsiError
from plugin.orphans import OrphanStopper
from plugin.probes import await_exit, exited, listening, may_listen
from plugin.program_config import ProgramConfig, ProgramSync
from plugin.qbt_profile import (WebuiCredentials, hand_profile_to_user, profile_log,
                                 seed_profile)
from plugin.rpc_client import Faults, SupervisorClient, SupervisorFault
from plugin.settings import Settings
from plugin.state_cache import ProcessState
from plugin.stats import TransferStats
from plugin.status import DOWN_STATES, FAILED_STATES, UP_STATES, StatusReport

#: How long after its start qBittorrent may still be starting up (seconds): a stop
#: then first waits for its Web UI (see _send_stop).
STARTUP_WINDOW = 5


class QbittorrentService:
    """qBittorrent as supervisord's program ``settings.program``."""

    def __init__(self, settings: Settings, client: SupervisorClient | None = None,
                 config: ProgramConfig | None = None, state: ProcessState | None = None,
                 webui: WebuiCredentials | None = None,
                 transfer_stats: TransferStats | None = None) -> None:
        self.settings = settings
        self.name = settings.program
        self.client = client or SupervisorClient.for_settings(settings)
        self.config = config or ProgramConfig(settings.program_conf, settings.program)
        self.program = ProgramSync(self.config, self.client)
        self.output = diagnostics.ProgramOutput(self.client, self.name)
        self.webui = webui or WebuiCredentials.for_settings(settings)
        self.state = state or ProcessState(self.client, self.name, settings.events_socket)
        self.choice = AutostartChoice(settings.choice_file)
        self.transfer_stats = transfer_stats or TransferStats()
        self._lock = threading.Lock()
        #: Stop and restart requests so far, counted before they take the lock
        #: (two racing may count once: still a change): a watchdog restart
        #: starts nothing after one came (see restart_unresponsive).
        self._stop_requests = 0
        self.orphans = OrphanStopper(settings.profile, settings.stop_grace,
                                     self._supervised_pid)
        self.orphans.search_in_background()
        self.report = StatusReport(self.config, self.state, self.choice, self.orphans)

    # -- queries ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.report.current()

    def log_tail(self, source: str, lines: int) -> list[str]:
        """The last lines of qBittorrent's own log (``qbittorrent``) or of a captured stream."""
        if source == "qbittorrent":
            return diagnostics.tail_file(profile_log(self.settings.profile), lines)
        return self.output.tail(source, lines)

    def versions(self) -> dict[str, Any]:
        return diagnostics.versions(self.client)

    def webui_credentials(self) -> dict[str, Any]:
        return self.webui.get()

    def stats(self) -> dict[str, Any]:
        return self.transfer_stats.of_status(self.status(), self.webui.in_effect)

    def set_webui_credentials(self, username: str, password: str) -> dict[str, Any]:
        """Keep new Web UI credentials; they reach qBittorrent at its next start."""
        running = self.status()["running"]
        self.webui.set(username, password)
        return {"username": username, "applied": False, "restart_required": running,
                "note": "applied at the next start%s" % (": use restart" if running else "")}

    def _supervised_pid(self) -> int | None:
        return self.client.process_info(self.name)["pid"] or None

    # -- lifecycle -------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One start/stop at a time, and none while an orphan still holds the profile."""
        if not self._lock.acquire(timeout=self.settings.busy_wait):
            raise FsiError(Err.BUSY, "another start/stop is in progress, try again shortly")
        try:
            self._refuse_while_orphaned()
            yield
        finally:
            self._lock.release()

    def _refuse_while_orphaned(self) -> None:
        orphan = self.orphans.current()
        if orphan is not None:
            # A start now would rewrite the port for a qBittorrent that cannot
            # run: the orphan holds the profile (one instance per profile).
            raise FsiError(Err.BUSY, "qBittorrent pid %d, left running by a supervisord that "
                           "died, %s" % (orphan.pid, orphan.error or "is stopping (saving "
                                         "resume data); try again once status says stopped"),
                           self.report.describe_orphan(orphan))

    def start(self, port: int | None = None) -> dict[str, Any]:
        """Start qBittorrent on ``port`` (default: the configured one); return status.

        Answers only once the Web UI listens on the port.
        """
        with self.exclusive():
            return self.start_locked(port, time.monotonic() + self.settings.start_timeout)

    def restart(self) -> dict[str, Any]:
        """Stop and start again on the configured port, within one ``start_timeout``.

        One deadline for both halves keeps the answer inside a NAS page's
        request timeout; a stop that takes longer answers 9998 (still stopping).
        """
        self._stop_requests += 1
        with self.exclusive():
            deadline = time.monotonic() + self.settings.start_timeout
            self.stop_locked(deadline)
            return self.start_locked(None, deadline)

    def stop(self, wait: float | None = None) -> dict[str, Any]:
        """Ask supervisord to stop qBittorrent (SIGTERM, never an early SIGKILL).

        Waits up to ``wait`` seconds for the exit; a longer stop answers 9998
        with ``state: stopping`` while supervisord carries on.
        """
        self._stop_requests += 1
        with self.exclusive():
            self.choice.set(False)
            wait = self.settings.stop_wait if wait is None else wait
            return self.stop_locked(time.monotonic() + wait)

    def restart_unresponsive(self, pid: int, kill_after: float,
                             on_signal: Callable[[str], None]) -> dict[str, Any] | None:
        """Replace a hung qBittorrent ``pid`` by a new one on its port (the watchdog's restart).

        SIGTERM through supervisord; SIGKILL if it has not exited after
        ``kill_after`` seconds (a hung process ignores SIGTERM, the stop grace
        is for healthy ones); then a start as :meth:`start` does. ``on_signal``
        hears ``"TERM"`` and ``"KILL"`` as each is sent. The lock is held to
        send SIGTERM and to start, never waited for, and not held in between:
        an admin's stop or restart meanwhile goes ahead. Returns the new
        status, or None without a start: another start/stop/restart was in
        progress, ``pid`` no longer ran, or a stop or restart was asked for or
        qBittorrent was started by hand while it waited.
        """
        stops = self._stop_requests
        with self._unless_busy() as free:
            if not free:
                return None
            info = self.state.fresh_info()
            if info["state"] != ProcessStates.RUNNING or info["pid"] != pid:
                return None
            port = self.report.port_of(pid)
            self._send_stop(info, time.monotonic() + kill_after)
        on_signal("TERM")
        kill_at = time.monotonic() + kill_after
        await_exit(pid, kill_at)
        self.state.wait_until(lambda: exited(pid), kill_at, fast_for=0)  # without pidfds
        # While it is stopping nobody can start another process under its name.
        if not exited(pid) and self.state.fresh_info()["pid"] == pid:
            self._kill()
            on_signal("KILL")
        deadline = time.monotonic() + self.settings.start_timeout
        self.state.wait_until(lambda: exited(pid) and self.state.info()["pid"] != pid, deadline)
        with self._unless_busy() as free:
            if not free:
                return None
            info = self.state.fresh_info()
            if info["pid"] == pid:
                raise FsiError(Err.TIMEOUT, "qBittorrent (pid %d) has not exited after "
                               "SIGKILL" % pid, self.report.describe(info))
            if info["state"] not in DOWN_STATES or self._stop_requests != stops:
                return None
            return self.start_locked(port, deadline)

    @contextlib.contextmanager
    def _unless_busy(self) -> Iterator[bool]:
        """The lock if it is free at once (True), else nothing (False): never a wait."""
        free = self._lock.acquire(blocking=False)
        try:
            yield free
        finally:
            if free:
                self._lock.release()

    def _kill(self) -> None:
        try:
            self.client.kill_process(self.name)
        except SupervisorFault as fault:
            if fault.code != Faults.NOT_RUNNING:  # it exited meanwhile
                raise
        self.state.invalidate()

    def start_locked(self, port: int | None, deadline: float) -> dict[str, Any]:
        """Start on ``port`` (None: the configured one) by ``deadline``; hold :meth:`exclusive`."""
        info = self.state.fresh_info()
        if info["state"] == ProcessStates.STOPPING:
            raise FsiError(Err.BUSY, "qBittorrent is still stopping (saving resume "
                           "data); start it again once status says stopped",
                           self.report.describe(info))
        if port is None:
            port = self.config.port()
            if port is None:
                raise FsiError(Err.NO_INPUT, "no port configured yet: pass params.port")
        if info["state"] in UP_STATES and self.report.port_of(info["pid"]) == port:
            self.choice.set(True)
            return self._await_ready(port, deadline, {}, info["pid"])
        self._check_port(port)
        previous = self.config.set_port(port)  # unwritable: 9990 with nothing stopped
        try:
            # A config supervisord refuses is found before anything is stopped.
            self.program.sync(port_changed=previous is not None)
            if info["state"] in UP_STATES + (ProcessStates.BACKOFF,):
                self.stop_locked(deadline)
            # qBittorrent is stopped here: its config may be edited. A profile
            # deleted behind its back gets the preset before anything else.
            if seed_profile(self.settings):
                try:
                    hand_profile_to_user(self.settings)
                except ValueError as exc:  # FSI_QBT_USER cannot own it
                    raise FsiError(Err.CONFIG, str(exc)) from None
            self.webui.apply()
            log_sizes = self.output.sizes()
            pid = self._launch()
        except FsiError as error:
            self._put_back(previous, error)
            raise
        self.choice.set(True)
        return self._await_ready(port, deadline, log_sizes, pid)

    def _check_port(self, port: int) -> None:
        try:
            uid = pwd.getpwnam(self.settings.qbittorrent_user).pw_uid
        except KeyError:
            uid = -1
        if not may_listen(port, uid):
            raise FsiError(Err.PARAMS, "port %d is privileged and %s may not listen on it: "
                           "choose a port from 1024 to 65535"
                           % (port, self.settings.qbittorrent_user))
        if listening(port):
            raise FsiError(Err.USED, "port %d is already in use by another program" % port)

    def _put_back(self, previous: bytes | None, error: FsiError) -> None:
        """After a start failed past the port's rewrite: the previous port back, the state said."""
        with contextlib.suppress(FsiError):
            self.program.restore(previous)
            self.program.sync()
        if error.results is None:
            with contextlib.suppress(FsiError, SupervisorFault):
                error.results = self.status()

    def stop_locked(self, deadline: float) -> dict[str, Any]:
        """Stop and wait for the exit until ``deadline`` (9998 after); hold :meth:`exclusive`."""
        info = self.state.fresh_info()
        pid = info["pid"] or None
        port = self.report.port_of(pid) if pid else None
        if info["state"] in UP_STATES + (ProcessStates.BACKOFF,):
            self._send_stop(info, deadline)

        def down() -> bool:
            return self.state.info()["state"] in DOWN_STATES and (
                port is None or not listening(port, pid))

        if pid:
            await_exit(pid, deadline)  # wakes the moment it exits
        stopped = self.state.wait_until(down, deadline)
        status = self.status()
        if not stopped:
            raise FsiError(Err.TIMEOUT, "qBittorrent is still stopping (it saves resume data "
                           "on exit); status shows when it is done", status)
        return status

    def _send_stop(self, info: dict[str, Any], deadline: float) -> None:
        pid = info["pid"]
        if pid and info["now"] - info["start"] < STARTUP_WINDOW:
            # qBittorrent 4.5 loses a SIGTERM that arrives while it starts up
            # (its handler asks an event loop that is not running yet to quit)
            # and would then run on until supervisord's SIGKILL after the
            # grace. Its Web UI opens once that loop runs: SIGTERM after that.
            def can_quit() -> bool:
                port = self.report.port_of(pid)
                return exited(pid) or (port is not None and listening(port, pid))

            self.state.wait_until(can_quit, min(deadline, time.monotonic() + STARTUP_WINDOW))
        try:
            self.client.stop_process(self.name)
        except SupervisorFault as fault:
            if fault.code != Faults.NOT_RUNNING:
                raise
        self.state.invalidate(stopping=True)

    def _launch(self) -> int | None:
        """Start the process; return the pid supervisord gave it (None when it has none)."""
        launch = self.program.launch()
        self.state.invalidate()
        fault = launch.start_fault
        if fault is None or fault.code == Faults.ALREADY_STARTED:
            return launch.pid
        if fault.code in (Faults.NO_FILE, Faults.NOT_EXECUTABLE):
            raise FsiError(Err.FAILED, "cannot run qBittorrent: %s" % fault.text)
        if fault.code == Faults.BAD_NAME:
            raise FsiError(Err.CONFIG, "supervisord has no program %r" % self.name)
        raise FsiError(Err.FAILED, "supervisord could not start qBittorrent: %s" % fault.text)

    def _await_ready(self, port: int, deadline: float, log_sizes: dict[str, int],
                     pid: int | None) -> dict[str, Any]:
        began = time.monotonic()

        def ready_or_gone() -> bool:
            # Local reads only (/proc), no round trip to supervisord: those
            # measurably slow qBittorrent's start.
            return not pid or exited(pid) or listening(port, pid)

        self.state.wait_until(ready_or_gone, deadline)
        if pid and exited(pid):
            # supervisord sees the exit on its next loop turn (a read wakes it).
            self.state.wait_until(lambda: self.state.info()["pid"] != pid, deadline)
        info = self.state.info()
        if info["state"] in FAILED_STATES:
            reason = self.output.failure_reason(log_sizes)
            self._cancel_retries()
            raise FsiError(Err.FAILED, "qBittorrent did not start: %s" % reason, self.status())
        if info["state"] in UP_STATES and listening(port, info["pid"] or None):
            return self.report.describe(info)
        raise FsiError(Err.TIMEOUT, "qBittorrent runs but its Web UI did not listen on port "
                       "%d in the %.1f s this request could wait; status shows how it goes on"
                       % (port, time.monotonic() - began), self.report.describe(info))

    def _cancel_retries(self) -> None:
        # Best effort: the caller's "did not start" is the answer that matters.
        with contextlib.suppress(SupervisorFault, FsiError):
            self.client.stop_process(self.name)
        self.state.invalidate()
