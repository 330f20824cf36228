"""Backups as FSI commands see them: the archive store plus qBittorrent's lifecycle.

:mod:`plugin.backups` reads and writes the archives; this module decides
when qBittorrent must stop for a restore and starts it again, holding the
service's lifecycle lock so that no start or stop runs in between.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any

from supervisor.states import ProcessStates

from plugin.backups import AUTOMATIC, MANUAL, Backup, BackupStore
from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.status import DOWN_STATES, UP_STATES
from plugin.rpc_client import SupervisorFault

#: What a backup made while qBittorrent runs says about itself.
RUNNING_NOTE = ("qBittorrent was running: the torrents' resume data is as of its last save, "
                "not this moment; stop qBittorrent first for an exact copy")


class BackupService:
    """``backup``, ``backups``, ``restore`` and ``delete_backup`` of one qBittorrent."""

    def __init__(self, service: QbittorrentService, store: BackupStore | None = None) -> None:
        self.service = service
        self.store = store or BackupStore.for_settings(service.settings)

    def backup(self) -> dict[str, Any]:
        """Archive qBittorrent's settings and torrent list; exact only while it is stopped."""
        with self.service.exclusive():
            running = self.service.state.fresh_info()["state"] not in DOWN_STATES
            record = self._backup(MANUAL, consistent=not running)
        if running:
            record["note"] = RUNNING_NOTE
        return record

    def list_backups(self) -> list[dict[str, Any]]:
        return self.store.records()

    def delete_backup(self, name: str) -> None:
        self.store.delete(name)

    def restore(self, name: str) -> dict[str, Any]:
        """Bring back backup ``name``: stop, back up what is there, swap it in, start again.

        The backup is read whole first: a damaged one changes nothing. The
        automatic backup made before the swap undoes the restore.
        """
        with self.service.exclusive(), self.store.open(name) as source:
            info = self.service.state.fresh_info()
            if info["state"] == ProcessStates.STOPPING:
                raise FsiError(Err.BUSY, "qBittorrent is still stopping (saving resume data); "
                               "restore once status says stopped",
                               self.service.report.describe(info))
            was_running = info["state"] in UP_STATES
            if was_running or info["state"] == ProcessStates.BACKOFF:
                try:
                    self.service.stop_locked(time.monotonic() + self.service.settings.stop_wait)
                except FsiError as error:
                    raise FsiError(error.code, "nothing was restored: %s" % error.msg,
                                   error.results) from None
            try:
                undo = self._backup(AUTOMATIC, consistent=True, keep_also=(name,))["name"]
                self._put_in_place(source)
            except FsiError as error:
                with contextlib.suppress(FsiError, SupervisorFault):
                    if was_running:  # as it was: running on its port
                        self._start_locked()
                    error.results = self.service.status()
                raise
            done = {"restored": name, "undo": undo, "torrents": source.facts.torrents}
            if not was_running:
                return {**self.service.status(), **done}
            try:
                status = self._start_locked()
            except FsiError as error:
                raise FsiError(error.code, "restored %s (restore %s undoes it), but qBittorrent "
                               "did not start again: %s" % (name, undo, error.msg),
                               error.results) from None
            return {**status, **done}

    def _start_locked(self) -> dict[str, Any]:
        return self.service.start_locked(
            None, time.monotonic() + self.service.settings.start_timeout)

    def _backup(self, kind: str, consistent: bool, keep_also: tuple[str, ...] = ()
                ) -> dict[str, Any]:
        login = self.service.webui.get()
        return self.store.create(kind, self.service.config.port(), login["username"],
                                   login["password"], consistent, keep_also)

    def _put_in_place(self, source: Backup) -> None:
        """The backup's port, Web UI login and profile directories: all of them or none."""
        facts = source.facts
        previous_port = self.service.config.set_port(facts.port) if facts.port is not None else None
        previous_login = self.service.webui.get()
        try:
            self.service.webui.set(facts.username, facts.password)
            self.store.restore(source)
        except FsiError:
            with contextlib.suppress(FsiError):
                self.service.program.restore(previous_port)
                self.service.webui.set(previous_login["username"], previous_login["password"])
            raise
