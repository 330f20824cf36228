"""What ``status`` answers, and every lifecycle answer carries.

Turns supervisord's process info (from the state cache) into the FSI
status fields: state, pid, the port the pid was started with, uptime, the
admin's autostart choice, and the watchdog's health. A qBittorrent that a
dead supervisord left running (:mod:`plugin.orphans`) is reported instead
while it is being stopped.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from supervisor.states import ProcessStates, getProcessStateDescription

from plugin.autostart import AutostartChoice
from plugin.orphans import Orphan, OrphanStopper
from plugin.probes import command_line
from plugin.program_config import ProgramConfig, port_in_command
from plugin.state_cache import ProcessState

#: States in which supervisord has (or is about to have) a live process.
UP_STATES = (ProcessStates.STARTING, ProcessStates.RUNNING)
#: States in which a start attempt has failed.
FAILED_STATES = (ProcessStates.BACKOFF, ProcessStates.EXITED, ProcessStates.FATAL,
                 ProcessStates.STOPPED)
#: States in which no process is left.
DOWN_STATES = (ProcessStates.STOPPED, ProcessStates.EXITED, ProcessStates.FATAL)


class StatusReport:
    """The status fields of one supervisord program."""

    def __init__(self, config: ProgramConfig, state: ProcessState, choice: AutostartChoice,
                 orphans: OrphanStopper) -> None:
        self.config = config
        self.state = state
        self.choice = choice
        self.orphans = orphans
        #: Fields added for the pid that is RUNNING (None when none is): the
        #: watchdog's ``health`` and what it did.
        self.health: Callable[[int | None], dict[str, Any]] | None = None
        self._pid_port_seen: tuple[int, int] = (0, 0)

    def current(self) -> dict[str, Any]:
        orphan = self.orphans.current()
        if orphan is not None:
            return self.describe_orphan(orphan)
        return self.describe(self.state.info())

    def describe(self, info: dict[str, Any]) -> dict[str, Any]:
        """The status fields of supervisord's ``getProcessInfo`` answer ``info``."""
        state = info["state"]
        pid = info["pid"] or None
        up = state in UP_STATES
        port = self.port_of(pid) if pid else None
        if port is None:
            port = self.config.port()
        result: dict[str, Any] = {
            "running": up,
            "state": getProcessStateDescription(state).lower(),
            "pid": pid,
            "port": port,
            "uptime": max(0, info["now"] - info["start"]) if up and info["start"] else 0,
            "autostart": self.choice.get(),
        }
        stopping_for = self.state.stopping_for() if state == ProcessStates.STOPPING else None
        if stopping_for is not None:
            result["stopping_for"] = round(stopping_for, 1)
        if info.get("spawnerr"):
            result["error"] = info["spawnerr"]
        return self._with_health(result, pid if state == ProcessStates.RUNNING else None)

    def describe_orphan(self, orphan: Orphan) -> dict[str, Any]:
        result: dict[str, Any] = {
            "running": False,
            "state": "stopping",
            "pid": orphan.pid,
            "port": orphan.port,
            "uptime": 0,
            "stopping_for": round(time.monotonic() - orphan.since, 1),
            "orphan": True,
        }
        if orphan.error:
            result["error"] = orphan.error
        return self._with_health(result, None)

    def port_of(self, pid: int) -> int | None:
        """The port a live process was started with, from its own command line."""
        known = self._pid_port_seen
        if known[0] == pid:
            return known[1]
        cmdline = command_line(pid)
        port = port_in_command(cmdline) if cmdline is not None else None
        if port is not None:
            # Not kept while None: forked by supervisord but not exec'd yet,
            # that is still supervisord's command line.
            self._pid_port_seen = (pid, port)
        return port

    def _with_health(self, result: dict[str, Any], running_pid: int | None) -> dict[str, Any]:
        if self.health is not None:
            result.update(self.health(running_pid))
        return result
