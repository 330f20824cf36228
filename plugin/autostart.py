"""The admin's choice, kept across reboots: should qBittorrent run?

A start through the plugin chooses yes, a stop no. When supervisord starts
again (a reboot, or ``make run`` after Ctrl-C) the plugin starts qBittorrent
if the last choice was yes. The choice lives in the runtime directory rather
than in the program's ``autostart=`` line: editing that line would make the
admin's next ``supervisorctl update`` restart a running qBittorrent.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.errors import Err, FsiError


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
