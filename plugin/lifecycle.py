"""Starting, stopping and querying qBittorrent through supervisord.

supervisord owns the process; this module only asks it to act and reads its
answers. Lifecycle operations (start, stop, restart) are serialized by one
lock: a request that cannot get it within ``busy_wait`` answers 9992 rather
than queueing behind a stop that may take minutes.
"""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from supervisor.states import ProcessStates, getProcessStateDescription

from plugin.errors import Err, FsiError
from plugin.ports import accepting, port_in_use, wait_until
from plugin.program_config import ProgramConfig, port_in_command
from plugin.qbt_profile import WebuiCredentials
from plugin.rpc_client import Faults, SupervisorClient, SupervisorFault
from plugin.settings import Settings

#: States in which supervisord has (or is about to have) a live process.
UP_STATES = (ProcessStates.STARTING, ProcessStates.RUNNING)
#: States in which a start attempt has failed.
FAILED_STATES = (ProcessStates.BACKOFF, ProcessStates.EXITED, ProcessStates.FATAL,
                 ProcessStates.STOPPED)
#: Where the Web UI is probed; qBittorrent listens there in both presets.
PROBE_HOST = "127.0.0.1"


def validate_port(value: Any) -> int:
    """A Web UI port from JSON: an integer 1..65535, nothing else (no bools, floats, strings)."""
    if type(value) is not int or not 1 <= value <= 65535:
        raise FsiError(Err.PARAMS, "port must be an integer from 1 to 65535, got %s"
                       % _describe(value))
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class QbittorrentService:
    """qBittorrent as supervisord's program ``settings.program``."""

    def __init__(self, settings: Settings, client: SupervisorClient | None = None,
                 config: ProgramConfig | None = None,
                 webui: WebuiCredentials | None = None) -> None:
        self.settings = settings
        self.name = settings.program
        self.client = client or SupervisorClient(settings.supervisor_url, settings.rpc_timeout)
        self.config = config or ProgramConfig(settings.program_conf, settings.program)
        self.webui = webui or WebuiCredentials.for_settings(settings)
        self._lock = threading.Lock()
        self._pid_ports: dict[int, int | None] = {}
        self._stopping_since: float | None = None

    # -- queries ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._describe(self.client.process_info(self.name))

    def _describe(self, info: dict[str, Any]) -> dict[str, Any]:
        state = info["state"]
        pid = info["pid"] or None
        up = state in UP_STATES
        if state == ProcessStates.STOPPING:
            if self._stopping_since is None:
                self._stopping_since = time.monotonic()
        else:
            self._stopping_since = None
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
        if self._stopping_since is not None:
            result["stopping_for"] = round(time.monotonic() - self._stopping_since, 1)
        if info.get("spawnerr"):
            result["error"] = info["spawnerr"]
        return result

    def _pid_port(self, pid: int) -> int | None:
        """The port a live process was started with, from its own command line."""
        if pid not in self._pid_ports:
            try:
                cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ")
            except OSError:
                return None
            if len(self._pid_ports) > 64:
                self._pid_ports.clear()
            self._pid_ports[pid] = port_in_command(cmdline)
        return self._pid_ports[pid]

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
            return self._start(port)

    def restart(self) -> dict[str, Any]:
        """Stop (bounded by ``stop_wait``) and start again on the configured port."""
        with self._exclusive():
            self._stop_and_wait(time.monotonic() + self.settings.stop_wait)
            return self._start(None)

    def _start(self, port: int | None) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.start_timeout
        info = self.client.process_info(self.name)
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
            return self._await_ready(port, deadline)
        if port_in_use(port):
            raise FsiError(Err.USED, "port %d is already in use by another program" % port)
        if info["state"] in UP_STATES + (ProcessStates.BACKOFF,):
            self._stop_and_wait(deadline)
        self._apply_port(port)
        self.webui.apply()  # qBittorrent is stopped here: its config may be edited
        self._start_process()
        return self._await_ready(port, deadline)

    def stop(self, wait: float | None = None) -> dict[str, Any]:
        """Ask supervisord to stop qBittorrent (SIGTERM, never an early SIGKILL).

        Waits up to ``wait`` seconds for the exit; a longer stop answers 9998
        with ``state: stopping`` while supervisord carries on.
        """
        with self._exclusive():
            wait = self.settings.stop_wait if wait is None else wait
            return self._stop_and_wait(time.monotonic() + wait)

    def _stop_and_wait(self, deadline: float) -> dict[str, Any]:
        info = self.client.process_info(self.name)
        port = self._pid_port(info["pid"]) if info["pid"] else None
        if info["state"] in UP_STATES + (ProcessStates.BACKOFF,):
            try:
                self.client.stop_process(self.name)
            except SupervisorFault as fault:
                if fault.code != Faults.NOT_RUNNING:
                    raise
        stopped = wait_until(lambda: self._is_down(port), deadline, max_interval=0.1)
        status = self.status()
        if not stopped:
            raise FsiError(Err.TIMEOUT, "qBittorrent is still stopping (it saves resume data "
                           "on exit); status shows when it is done", status)
        return status

    def _is_down(self, port: int | None) -> bool:
        state = self.client.process_info(self.name)["state"]
        if state not in (ProcessStates.STOPPED, ProcessStates.EXITED, ProcessStates.FATAL):
            return False
        return port is None or not accepting(PROBE_HOST, port)

    def _apply_port(self, port: int) -> None:
        previous = self.config.set_port(port)
        if previous is None:
            return
        try:
            self.client.reload_group(self.name)
        except SupervisorFault as fault:
            self.config.write(previous)
            if fault.code == Faults.CANT_REREAD:
                raise FsiError(Err.CONFIG, "supervisord refused the program config, "
                               "previous config restored: %s" % fault.text) from None
            raise
        except FsiError:
            self.config.write(previous)
            raise

    def _start_process(self) -> None:
        try:
            self.client.start_process(self.name)
        except SupervisorFault as fault:
            if fault.code == Faults.ALREADY_STARTED:
                return
            if fault.code in (Faults.NO_FILE, Faults.NOT_EXECUTABLE):
                raise FsiError(Err.FAILED, "cannot run qBittorrent: %s" % fault.text) from None
            if fault.code == Faults.BAD_NAME:
                raise FsiError(Err.CONFIG, "supervisord has no program %r" % self.name) from None
            raise FsiError(Err.FAILED, "supervisord could not start qBittorrent: %s"
                           % fault.text) from None

    def _await_ready(self, port: int, deadline: float) -> dict[str, Any]:
        failed = False

        def ready() -> bool:
            nonlocal failed
            if accepting(PROBE_HOST, port, timeout=0.5):
                return True
            failed = self.client.process_info(self.name)["state"] in FAILED_STATES
            return failed

        if wait_until(ready, deadline) and not failed:
            return self.status()
        if failed:
            reason = self._failure_reason()
            self._cancel_retries()
            raise FsiError(Err.FAILED, "qBittorrent did not start: %s" % reason, self.status())
        raise FsiError(Err.TIMEOUT, "qBittorrent's Web UI did not open port %d within %gs; "
                       "status shows how it goes on" % (port, self.settings.start_timeout),
                       self.status())

    def _cancel_retries(self) -> None:
        with contextlib.suppress(SupervisorFault):
            self.client.stop_process(self.name)

    def _failure_reason(self) -> str:
        for tail in (self.client.tail_stderr, self.client.tail_stdout):
            with contextlib.suppress(SupervisorFault):
                lines = [line for line in tail(self.name, 2048).splitlines() if line.strip()]
                if lines:
                    return " | ".join(lines[-3:])
        info = self.client.process_info(self.name)
        return info.get("spawnerr") or info.get("description") or "it exited at once"
