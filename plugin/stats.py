"""Dashboard figures from qBittorrent itself: speeds, session totals, torrent counts, free space.

They come from ``sync/maindata``, qBittorrent's incremental feed: after one
full answer it sends only what changed since the ``rid`` it is given back,
so what the plugin receives and parses on a poll does not grow with the
number of torrents. Its ``server_state`` is the transfer info (speeds,
session totals, DHT nodes, connection status) plus the free space on the
default save path, so one request a poll is enough. The save path itself is
read again after a full update, when that free space changes, and at least
every ``SAVE_PATH_MAX_AGE`` seconds (qBittorrent measures the free space
about that often).

Several pages polling every second must not multiply the calls to
qBittorrent: an answer is shared for up to ``SHARE_FOR`` seconds, and a
caller arriving while a read is under way waits for that read.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable

from plugin.errors import Err, FsiError
from plugin.qbt_webapi import WebApiClient, WebApiTarget

#: How long one answer from qBittorrent is handed out again (seconds).
SHARE_FOR = 1.0
#: How long a save path read from qBittorrent is taken for its current one (seconds).
SAVE_PATH_MAX_AGE = 30.0
MAINDATA_PATH = "/api/v2/sync/maindata"
SAVE_PATH_PATH = "/api/v2/app/defaultSavePath"

#: The count each torrent state of qBittorrent 4.x and 5.x adds to (5.0 renamed
#: pausedUP/pausedDL to stoppedUP/stoppedDL). ``moving`` and ``unknown`` add
#: to ``total`` only.
STATE_COUNTS = {
    "downloading": "downloading", "forcedDL": "downloading", "metaDL": "downloading",
    "forcedMetaDL": "downloading", "allocating": "downloading",
    "uploading": "seeding", "forcedUP": "seeding",
    "pausedDL": "paused", "pausedUP": "paused", "stoppedDL": "paused", "stoppedUP": "paused",
    "stalledDL": "stalled", "stalledUP": "stalled",
    "checkingDL": "checking", "checkingUP": "checking", "checkingResumeData": "checking",
    "queuedDL": "queued", "queuedUP": "queued",
    "error": "error", "missingFiles": "error",
}
COUNTS = ("total", "downloading", "seeding", "paused", "stalled", "checking", "queued", "error")


class Maindata:
    """The plugin's copy of what ``sync/maindata`` said so far: its ``rid``, states, server state."""

    def __init__(self) -> None:
        self.rid = 0
        self.states: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.server_state: dict[str, Any] = {}

    def apply(self, update: dict[str, Any]) -> None:
        """Fold one answer in: a full update replaces everything, another one changes it."""
        if update.get("full_update"):
            self.states.clear()
            self.counts.clear()
            self.server_state = {}
        for torrent_hash in update.get("torrents_removed", ()):
            self._set_state(torrent_hash, None)
        for torrent_hash, changed in update.get("torrents", {}).items():
            if "state" in changed or torrent_hash not in self.states:
                self._set_state(torrent_hash, changed.get("state", "unknown"))
        self.server_state.update(update.get("server_state", {}))
        self.rid = update["rid"]

    def _set_state(self, torrent_hash: str, state: str | None) -> None:
        # Counts change by what changed: no walk over every torrent on a poll.
        old = self.states.pop(torrent_hash, None)
        if old is not None:
            self.counts[STATE_COUNTS.get(old)] -= 1
        if state is not None:
            self.states[torrent_hash] = state
            self.counts[STATE_COUNTS.get(state)] += 1

    def torrent_counts(self) -> dict[str, int]:
        return {"total": len(self.states),
                **{name: self.counts[name] for name in COUNTS if name != "total"}}


class TransferStats:
    """The figures of one qBittorrent, read through its Web API and shared for ``share_for`` s."""

    def __init__(self, client: WebApiClient | None = None, share_for: float = SHARE_FOR,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client or WebApiClient()
        self.maindata = Maindata()
        self.save_path: str | None = None
        self._save_path_read_at = 0.0
        self._clock = clock
        self._shared = SharedAnswer(share_for, clock)

    def of_status(self, status: dict[str, Any],
                  login: Callable[[], tuple[str, str]]) -> dict[str, Any]:
        """The figures of the qBittorrent ``status`` describes, as ``stats`` answers them.

        Stopped: ``{"running": false}`` alone. Running but its Web API silent
        or refusing the plugin's login: FsiError 9971 with ``running: true``.
        """
        if not status["running"]:
            return {"running": False}
        try:
            if status["port"] is None:
                raise FsiError(Err.OFFLINE, "qBittorrent runs but its Web UI port is unknown")
            return {"running": True, **self.read(status["port"], status["pid"], login)}
        except FsiError as error:
            error.results = {"running": True}
            raise

    def read(self, port: int, pid: int | None,
             login: Callable[[], tuple[str, str]]) -> dict[str, Any]:
        """``download_speed``, ``upload_speed``, ``downloaded``, ``uploaded``, ``torrents``,
        ``free_space``, ``save_path``, ``connection_status``, ``dht_nodes``; FsiError 9971.

        ``login`` gives the username and password; it is called only when
        qBittorrent is asked, not for a shared answer.
        """
        figures = self._shared.get((port, pid), lambda: self._read(
            WebApiTarget(port, pid, *login())))
        return {**figures, "torrents": dict(figures["torrents"])}

    def _read(self, target: WebApiTarget) -> dict[str, Any]:
        update = self.client.get_json(target, MAINDATA_PATH, rid=self.maindata.rid)
        before = self.maindata.server_state.get("free_space_on_disk")
        try:
            self.maindata.apply(update)
            state = self.maindata.server_state
            if (update.get("full_update") or state["free_space_on_disk"] != before
                    or self._clock() - self._save_path_read_at >= SAVE_PATH_MAX_AGE):
                self.save_path = None
            if self.save_path is None:
                self.save_path = self.client.get(target, SAVE_PATH_PATH).decode("utf-8")
                self._save_path_read_at = self._clock()
            free_space = state["free_space_on_disk"]
            return {
                "download_speed": state["dl_info_speed"],
                "upload_speed": state["up_info_speed"],
                "downloaded": state["dl_info_data"],
                "uploaded": state["up_info_data"],
                "torrents": self.maindata.torrent_counts(),
                # qBittorrent says -1 when it cannot tell (a save path that does not exist).
                "free_space": free_space if free_space >= 0 else None,
                "save_path": self.save_path,
                "connection_status": state["connection_status"],
                "dht_nodes": state["dht_nodes"],
            }
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            # Start over from a full update rather than build on a copy that went wrong.
            self.maindata = Maindata()
            raise FsiError(Err.OFFLINE, "qBittorrent's Web API answered sync/maindata with "
                           "something unexpected (%s: %s)" % (type(exc).__name__, exc)) from None


class SharedAnswer:
    """One read at a time; its outcome handed to every caller of the same key for ``max_age`` s.

    Callers that arrive while a read is under way wait for it and get its
    outcome, whatever its age by then. The answer of one key (one
    qBittorrent process) is never handed to a caller of another.
    """

    def __init__(self, max_age: float, clock: Callable[[], float]) -> None:
        self.max_age = max_age
        self._clock = clock
        self._changed = threading.Condition()
        self._last: _Flight | None = None

    def get(self, key: Any, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._changed:
            while True:
                flight = self._last
                if flight is not None and flight.key == key and (
                        not flight.done or self._clock() - flight.started < self.max_age):
                    flight.callers += 1
                    self._changed.wait_for(lambda: flight.done)
                    return flight.outcome()
                if flight is None or flight.done:
                    break
                self._changed.wait()  # a read for another key is under way
            flight = self._last = _Flight(key, self._clock())
        try:
            flight.value = read()
        except Exception as error:
            flight.error = error
        finally:
            with self._changed:
                flight.done = True
                self._changed.notify_all()
        return flight.outcome()


class _Flight:
    """One read: its key, when it started, and its value or error once done."""

    def __init__(self, key: Any, started: float) -> None:
        self.key = key
        self.started = started
        #: How many callers it answers (the one that read, and those that waited or came late).
        self.callers = 1
        self.done = False
        self.value: dict[str, Any] | None = None
        self.error: Exception | None = None

    def outcome(self) -> dict[str, Any]:
        if isinstance(self.error, FsiError):
            # Each caller its own: the service adds its results to the one it raises.
            raise FsiError(self.error.code, self.error.msg)
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value
