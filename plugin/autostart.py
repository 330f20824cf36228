"""The admin's choice, kept across reboots: should qBittorrent run?

A start through the plugin chooses yes, a stop no. When supervisord starts
again (a reboot, or ``make run`` after Ctrl-C) the plugin starts qBittorrent
if the last choice was yes. The choice lives in the runtime directory rather
than in the program's ``autostart=`` line: editing that line would make the
admin's next ``supervisorctl update`` restart a running qBittorrent.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from supervisor.states import ProcessStates

from plugin.atomic import write_atomically
from plugin.errors import Err, FsiError

if TYPE_CHECKING:
    from plugin.lifecycle import QbittorrentService

#: How long past the stop grace a start at boot waits for a busy plugin.
BUSY_RETRY_MARGIN = 60

log = logging.getLogger("qbittorrent_fsi")


class AutostartChoice:
    """A yes/no kept in a small JSON file; no file means no."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._value: bool | None = None

    def get(self) -> bool:
        if self._value is None:
            try:
                self._value = bool(json.loads(self.path.read_text())["autostart"])
            except (OSError, ValueError, KeyError, TypeError):
                self._value = False
        return self._value

    def set(self, value: bool) -> None:
        with self._lock:
            if self.get() == value:
                return
            try:
                write_atomically(self.path, json.dumps({"autostart": value}).encode(), 0o644)
            except OSError as exc:
                raise FsiError(Err.SAVE, "cannot write %s: %s"
                               % (self.path, exc.strerror or exc)) from None
            self._value = value


def start_if_chosen(service: QbittorrentService) -> None:
    """Start qBittorrent if the admin's last choice was to run it and this
    supervisord has not started it yet (it has just started: a reboot).

    Runs in a thread of its own when the plugin starts; waits out another
    start or stop (or a qBittorrent a dead supervisord left running, which
    is stopping), and logs a failure.
    """
    deadline = time.monotonic() + service.settings.stop_grace + BUSY_RETRY_MARGIN
    while True:
        try:
            info = service.state.fresh_info()
            if service.choice.get() and info["state"] == ProcessStates.STOPPED \
                    and not info["start"]:
                log.info("starting qBittorrent as it ran before supervisord stopped")
                service.start()
            return
        except FsiError as error:
            if error.code != Err.BUSY or time.monotonic() > deadline:
                log.error("could not start qBittorrent as it ran before: %s", error)
                return
        time.sleep(1)
