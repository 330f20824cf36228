"""Starting, stopping and querying qBittorrent through supervisord.

supervisord owns the process; this module only asks it to act and reads its
answers. Lifecycle operations (start, stop, restart) are serialized by one
lock: a request that cannot get it within ``busy_wait`` answers 9992 rather
than queueing behind a stop that may take minutes.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from supervisor.states import ProcessStates, getProcessStateDescription

from plugin.errors import Err, FsiError
from plugin.ports import accepting, port_in_use
from plugin.program_config import ProgramConfig, port_in_command
from plugin.qbt_profile import WebuiCredentials
from plugin.rpc_client import TAIL_METHODS, Faults, SupervisorClient, SupervisorFault
from plugin.state_cache import ProcessState, await_exit, exited
from plugin.settings import Settings

#: States in which supervisord has (or is about to have) a live process.
UP_STATES = (ProcessStates.STARTING, ProcessStates.RUNNING)
#: States in which a start attempt has failed.
FAILED_STATES = (ProcessStates.BACKOFF, ProcessStates.EXITED, ProcessStates.FATAL,
                 ProcessStates.STOPPED)
#: States in which no process is left.
DOWN_STATES = (ProcessStates.STOPPED, ProcessStates.EXITED, ProcessStates.FATAL)
#: How long after its start qBittorrent may still be starting up (seconds): a stop
#: then first waits for its Web UI (see _send_stop).
STARTUP_WINDOW = 5
#: Lines of qBittorrent's output that say why it gave up.
_ERROR_HINT = re.compile(r"(?i)unable|could not|cannot|can't|error|fail|bad |denied|"
                         r"unknown|not found|invalid|abort")
#: Where the Web UI is probed; qBittorrent listens there in both presets.
PROBE_HOST = "127.0.0.1"


class QbittorrentService:
    """qBittorrent as supervisord's program ``settings.program``."""

    def __init__(self, settings: Settings, client: SupervisorClient | None = None,
                 config: ProgramConfig | None = None, state: ProcessState | None = None,
                 webui: WebuiCredentials | None = None) -> None:
        self.settings = settings
        self.name = settings.program
        self.client = client or SupervisorClient(settings.supervisor_url, settings.rpc_timeout)
        self.config = config or ProgramConfig(settings.program_conf, settings.program)
        self.webui = webui or WebuiCredentials.for_settings(settings)
        self.state = state or ProcessState(self.client, self.name, settings.events_socket)
        self._lock = threading.Lock()
        self._pid_port_seen: tuple[int, int] = (0, 0)
        # supervisord may hold another program config than the file (edited
        # before we started): re-read it once before the first launch.
        self._reread_needed = True
        # The file changed and supervisord re-read it, but the group still runs
        # the old config until it is removed and added again.
        self._group_stale = False
        self._log_paths: dict[str, str] | None = None

    # -- queries ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._describe(self.state.info())

    def _describe(self, info: dict[str, Any]) -> dict[str, Any]:
        state = info["state"]
        pid = info["pid"] or None
        up = state in UP_STATES
        port = self._pid_port(pid) if pid else None
        if port is None:
            port = self.config.port()
        result: dict[str, Any] = {
            "running": up,
            "state": getProcessStateDescription(state).lower(),
            "pid": pid,
            "port": port,
            "uptime": max(0, info["now"] - info["start"]) if up and info["start"] else 0,
        }
        stopping_for = self.state.stopping_for() if state == ProcessStates.STOPPING else None
        if stopping_for is not None:
            result["stopping_for"] = round(stopping_for, 1)
        if info.get("spawnerr"):
            result["error"] = info["spawnerr"]
        return result

    def _pid_port(self, pid: int) -> int | None:
        """The port a live process was started with, from its own command line."""
        known = self._pid_port_seen
        if known[0] == pid:
            return known[1]
        try:
            cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ")
        except OSError:
            return None
        port = port_in_command(cmdline)
        if port is not None:
            # Not kept while None: forked by supervisord but not exec'd yet,
            # that is still supervisord's command line.
            self._pid_port_seen = (pid, port)
        return port

    # -- lifecycle -------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self.settings.busy_wait):
            raise FsiError(Err.BUSY, "another start/stop is in progress, try again shortly")
        try:
            yield
        finally:
            self._lock.release()

    def start(self, port: int | None = None) -> dict[str, Any]:
        """Start qBittorrent on ``port`` (default: the configured one); return status.

        Answers only once the Web UI accepts connections on the port.
        """
        with self._exclusive():
            return self._start(port, time.monotonic() + self.settings.start_timeout)

    def restart(self) -> dict[str, Any]:
        """Stop and start again on the configured port, within one ``start_timeout``.

        One deadline for both halves keeps the answer inside a NAS page's
        request timeout; a stop that takes longer answers 9998 (still stopping).
        """
        with self._exclusive():
            deadline = time.monotonic() + self.settings.start_timeout
            self._stop_and_wait(deadline)
            return self._start(None, deadline)

    def _start(self, port: int | None, deadline: float) -> dict[str, Any]:
        info = self.state.fresh_info()
        if info["state"] == ProcessStates.STOPPING:
            raise FsiError(Err.BUSY, "qBittorrent is still stopping (saving resume "
                           "data); start it again once status says stopped",
                           self._describe(info))
        if port is None:
            port = self.config.port()
            if port is None:
                raise FsiError(Err.NO_INPUT, "no port configured yet: pass params.port")
        up = info["state"] in UP_STATES
        if up and self._pid_port(info["pid"]) == port:
            return self._await_ready(port, deadline, {}, info["pid"])
        try:
            in_use = port_in_use(port)
        except PermissionError:
            raise FsiError(Err.PARAMS, "port %d is privileged (below 1024) and may not be "
                           "used here: choose a port from 1024 to 65535" % port) from None
        if in_use:
            raise FsiError(Err.USED, "port %d is already in use by another program" % port)
        running = info["state"] in UP_STATES + (ProcessStates.BACKOFF,)
        previous = self.config.set_port(port)  # unwritable: 9990 with nothing stopped
        if previous is not None:
            # Until supervisord has re-read the file, whatever fails on the way
            # (a stop fault, a timeout): the next start must re-read it too.
            self._reread_needed = True
        if running:
            # SIGTERM before the re-read: qBittorrent saves its resume data
            # while supervisord parses the new config, instead of after.
            self._send_stop(info, deadline)
        refused = self._reread(previous, tolerate_refusal=running)
        if running:
            self._stop_and_wait(deadline)
        self.webui.apply()  # qBittorrent is stopped here: its config may be edited
        log_sizes, pid = self._launch()
        if refused is None:
            return self._await_ready(port, deadline, log_sizes, pid)
        # The previous config is back: so is qBittorrent, on its previous port.
        previous_port = self.config.port()
        if previous_port is not None:
            refused.results = self._await_ready(previous_port, deadline, log_sizes, pid)
        raise refused

    def stop(self, wait: float | None = None) -> dict[str, Any]:
        """Ask supervisord to stop qBittorrent (SIGTERM, never an early SIGKILL).

        Waits up to ``wait`` seconds for the exit; a longer stop answers 9998
        with ``state: stopping`` while supervisord carries on.
        """
        with self._exclusive():
            wait = self.settings.stop_wait if wait is None else wait
            return self._stop_and_wait(time.monotonic() + wait)

    def _stop_and_wait(self, deadline: float) -> dict[str, Any]:
        info = self.state.fresh_info()
        port = self._pid_port(info["pid"]) if info["pid"] else None
        if info["state"] in UP_STATES + (ProcessStates.BACKOFF,):
            self._send_stop(info, deadline)

        def down() -> bool:
            return self.state.info()["state"] in DOWN_STATES and (
                port is None or not accepting(PROBE_HOST, port))

        if info["pid"]:
            await_exit(info["pid"], deadline)  # wakes the moment it exits
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
                port = self._pid_port(pid)
                return exited(pid) or (port is not None and accepting(PROBE_HOST, port))

            self.state.wait_until(can_quit, min(deadline, time.monotonic() + STARTUP_WINDOW))
        try:
            self.client.stop_process(self.name)
        except SupervisorFault as fault:
            if fault.code != Faults.NOT_RUNNING:
                raise
        self.state.invalidate(stopping=True)

    def _reread(self, previous: bytes | None, tolerate_refusal: bool) -> FsiError | None:
        """Have supervisord re-read the program config just written over ``previous``.

        A config supervisord refuses is rolled back to ``previous``; with
        ``tolerate_refusal`` (qBittorrent was already told to stop, so the
        caller starts the previous config again) the refusal is returned
        instead of raised.
        """
        if not self._reread_needed:
            return None
        try:
            added, changed, _ = self.client.reload_config()
        except SupervisorFault as fault:
            if previous is not None:
                self.config.write(previous)
            refusal = FsiError(Err.CONFIG, "supervisord refused the program config%s: %s"
                               % (", previous config restored" if previous else "",
                                  fault.text))
            if tolerate_refusal and fault.code == Faults.CANT_REREAD:
                return refusal
            raise refusal from None
        except FsiError:
            if previous is not None:
                self.config.write(previous)
            raise
        self._reread_needed = False
        if self.name in added or self.name in changed:
            self._group_stale = True
        return None

    def _launch(self) -> tuple[dict[str, int], int | None]:
        """Start the process in one round trip.

        Returns the sizes of its logs before (so that a failure quotes only
        what follows) and the pid supervisord gave it (None when it has none).

        The group is removed and added again (as ``supervisorctl update``
        does) only when its config changed since it was last added.
        """
        log_sizes = self._log_sizes()
        calls: list[tuple[Any, ...]] = []
        if self._group_stale:
            calls += [("removeProcessGroup", self.name), ("addProcessGroup", self.name)]
        calls += [("startProcess", self.name, False), ("getProcessInfo", self.name)]
        results = self.client.multicall(*calls)
        self.state.invalidate()
        if self._group_stale:
            removed, added = results[:2]
            for result, harmless in ((removed, Faults.BAD_NAME), (added, Faults.ALREADY_ADDED)):
                if isinstance(result, SupervisorFault) and result.code != harmless:
                    raise FsiError(Err.CONFIG, "supervisord could not apply the program "
                                   "config: %s" % result.text)
            self._group_stale = False
        started, launched = results[-2:]
        if isinstance(started, SupervisorFault):
            self._raise_start_fault(started)
        pid = None if isinstance(launched, SupervisorFault) else launched["pid"] or None
        return log_sizes, pid

    def _log_sizes(self) -> dict[str, int]:
        """The sizes of qBittorrent's logs now, so that a failure quotes only what follows.

        The paths are asked once (asking each time costs a round trip per
        start); should an admin move the logs, a failure message may quote
        older lines too, nothing worse.
        """
        if self._log_paths is None:
            self._log_paths = {channel: config["%s_logfile" % channel]
                               for config in self.client.call("getAllConfigInfo")
                               if config["name"] == self.name for channel in TAIL_METHODS}
        sizes = {}
        for channel, path in self._log_paths.items():
            with contextlib.suppress(OSError, TypeError):
                sizes[channel] = os.stat(path).st_size
        return sizes

    def _raise_start_fault(self, fault: SupervisorFault) -> None:
        if fault.code == Faults.ALREADY_STARTED:
            return
        if fault.code in (Faults.NO_FILE, Faults.NOT_EXECUTABLE):
            raise FsiError(Err.FAILED, "cannot run qBittorrent: %s" % fault.text)
        if fault.code == Faults.BAD_NAME:
            raise FsiError(Err.CONFIG, "supervisord has no program %r" % self.name)
        raise FsiError(Err.FAILED, "supervisord could not start qBittorrent: %s" % fault.text)

    def _await_ready(self, port: int, deadline: float, log_sizes: dict[str, int],
                     pid: int | None) -> dict[str, Any]:
        def ready_or_gone() -> bool:
            # The port every millisecond and the pid locally (/proc), with no
            # round trip to supervisord: those measurably slow qBittorrent's start.
            return accepting(PROBE_HOST, port, timeout=0.5) or not pid or exited(pid)

        self.state.wait_until(ready_or_gone, deadline)
        if pid and exited(pid):
            # supervisord sees the exit on its next loop turn (a read wakes it).
            self.state.wait_until(lambda: self.state.info()["pid"] != pid, deadline)
        info = self.state.info()
        if info["state"] in FAILED_STATES:
            reason = self._failure_reason(log_sizes)
            self._cancel_retries()
            raise FsiError(Err.FAILED, "qBittorrent did not start: %s" % reason, self.status())
        if info["state"] in UP_STATES and accepting(PROBE_HOST, port):
            return self._describe(info)
        raise FsiError(Err.TIMEOUT, "qBittorrent's Web UI did not open port %d within %gs; "
                       "status shows how it goes on" % (port, self.settings.start_timeout),
                       self._describe(info))

    def _cancel_retries(self) -> None:
        # Best effort: the caller's "did not start" is the answer that matters.
        with contextlib.suppress(SupervisorFault, FsiError):
            self.client.stop_process(self.name)
        self.state.invalidate()

    def _failure_reason(self, log_sizes: dict[str, int]) -> str:
        """What qBittorrent said before it died: error-looking lines of this run's output."""
        lines: list[str] = []
        for channel in ("stderr", "stdout"):
            with contextlib.suppress(SupervisorFault):
                text, size = self.client.tail_log(self.name, channel, 4096)
                data = text.encode()
                fresh = size - log_sizes.get(channel, 0)
                if 0 <= fresh < len(data):
                    data = data[len(data) - fresh:]
                lines += [line.strip() for line in data.decode(errors="replace").splitlines()
                          if line.strip()]
        telling = [line for line in lines if _ERROR_HINT.search(line)] or lines
        if telling:
            return " | ".join(telling[-3:])
        info = self.client.process_info(self.name)
        return info.get("spawnerr") or info.get("description") or "it exited at once"
