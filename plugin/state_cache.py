"""qBittorrent's supervisord state, kept between state changes.

Status is polled far more often than qBittorrent changes state, so the
answer of one ``getProcessInfo`` is kept and served until something changes.
It stays true because every change is pushed to us: supervisord emits a
``PROCESS_STATE_*`` (or ``PROCESS_GROUP_*``) event on each transition, its
event listener (:mod:`plugin.event_listener`) forwards it over a unix socket,
and each event drops the kept answer. The kept answer is used only while
that socket is connected and events arrive (``TICK_5`` at least): before
the first connection, after supervisord or the listener went away or hung,
every read is a real ``getProcessInfo`` (so a stopped supervisord shows up
as 9977 at once). A generation counter makes
sure an answer fetched before an event is never kept after it. One more
check is local: a kept answer naming a pid that has exited (supervisord
notices SIGCHLD only when its loop next wakes, up to a second later) is
asked again, and that request is what wakes supervisord up. Only steady
states are kept (:data:`KEPT_STATES`): a starting or stopping process is
asked about on every read.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from supervisor.states import ProcessStates

from plugin.probes import exited
from plugin.rpc_client import SupervisorClient

#: Reconnect delays to the listener socket (supervisord restarting, not up yet).
RECONNECT_MIN = 0.05
RECONNECT_MAX = 1.0
#: Poll intervals of wait_until: while cached, when each check is a round trip, at most.
POLL_MIN = 0.001
POLL_UNCACHED = 0.005
POLL_MAX = 0.1
#: Round trips one read may take while supervisord has not reaped an exited pid yet.
REASK = 3
#: The states an answer is kept in: supervisord leaves them only on a request
#: (whose event goes out in the same turn of its loop) or when the process exits
#: (seen locally). It leaves the others on its own timers (startsecs, backoff,
#: autorestart, stopwaitsecs), and the event of such a change waits for the next
#: turn of its loop, up to a second later: answers in those states are never kept.
KEPT_STATES = (ProcessStates.RUNNING, ProcessStates.STOPPED, ProcessStates.FATAL)
#: The listener relays supervisord's TICK_5 every 4 to 6 s while it works: after
#: a longer silence it may be hung, and a kept answer is no longer trusted.
EVENT_SILENCE_MAX = 5.5


class ProcessState:
    """The state of one supervisord process, cached while events flow."""

    def __init__(self, client: SupervisorClient, name: str,
                 events_path: Path | None = None) -> None:
        self.client = client
        self.name = name
        self.events_path = events_path
        self._changed = threading.Condition()
        self._generation = 0
        self._connected = False
        self._last_event = 0.0
        self._kept: tuple[dict[str, Any], float] | None = None
        self._stopping_since: float | None = None
        self._socket: socket.socket | None = None
        self._closed = False
        if events_path is not None:
            threading.Thread(target=self._watch, name="fsi-events", daemon=True).start()

    @property
    def generation(self) -> int:
        """Changes whenever the state may have changed."""
        return self._generation

    @property
    def connected(self) -> bool:
        """True while state changes are being pushed to us."""
        return self._connected

    def info(self) -> dict[str, Any]:
        """The current ``getProcessInfo`` answer: the kept one, or asked anew."""
        with self._changed:
            generation = self._generation
            kept = self._kept
        if kept is not None and self._events_flowing():
            info, fetched_at = kept
            if not info["pid"] or not exited(info["pid"]):
                return dict(info, now=info["now"] + int(time.monotonic() - fetched_at))
            # It died but supervisord has not reaped it yet: supervisord only
            # looks at SIGCHLD when its loop wakes up (up to a second later),
            # and a request is what wakes it. Ask until the answer changes.
        for _ in range(REASK):
            info = self.client.process_info(self.name)
            # An answer naming a pid that exited is already out of date: this
            # request woke supervisord, which reaps it now. Ask again at once.
            lagging = bool(info["pid"]) and exited(info["pid"])
            if not lagging:
                break
        with self._changed:
            self._note_stopping(info["state"])
            if self._connected and self._generation == generation and not lagging \
                    and info["state"] in KEPT_STATES:
                self._kept = (info, time.monotonic())
        return info

    def _events_flowing(self) -> bool:
        return time.monotonic() - self._last_event <= EVENT_SILENCE_MAX

    def stopping_for(self) -> float | None:
        """Seconds since the current stop began, or None when not stopping."""
        since = self._stopping_since
        return None if since is None else time.monotonic() - since

    def fresh_info(self) -> dict[str, Any]:
        """supervisord's own current answer, for lifecycle decisions.

        An event takes a few milliseconds from supervisord to us; a status poll
        may show that much of the past, but a start or stop must not act on it
        (a stop that sees "stopped" while an admin's start is being reported
        would answer "stopped" over a starting qBittorrent).
        """
        self.invalidate()
        return self.info()

    def invalidate(self, stopping: bool = False) -> None:
        """Forget the kept answer (call after every action sent to supervisord)."""
        with self._changed:
            self._bump()
            if stopping and self._stopping_since is None:
                self._stopping_since = time.monotonic()

    def wait_until(self, check: Callable[[], bool], deadline: float,
                   fast_for: float = 1.0) -> bool:
        """Re-run ``check`` on each change and at short intervals until ``deadline``.

        While events flow a state read costs no round trip, so ``check`` runs
        every millisecond for ``fast_for`` seconds (qBittorrent's Web UI opens
        tens of milliseconds after exec); otherwise, and later, it backs off.
        """
        fast_until = time.monotonic() + fast_for
        interval = POLL_MIN
        while True:
            generation = self._generation
            if check():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if not (self._connected and now < fast_until):
                interval = min(max(interval * 1.5, POLL_UNCACHED), POLL_MAX)
            self.wait_for_change(generation, min(interval, deadline - now))

    def wait_for_change(self, generation: int, timeout: float | None) -> bool:
        """Block until :attr:`generation` differs from ``generation``, at most ``timeout`` s.

        No polling: an event, a reconnection or an :meth:`invalidate` wakes it
        (``TICK_5`` does not), so a wait without a timeout costs nothing.
        """
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != generation, timeout)

    def close(self) -> None:
        self._closed = True
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- the event connection --------------------------------------------

    def _bump(self) -> None:
        self._generation += 1
        self._kept = None
        self._changed.notify_all()

    def _note_stopping(self, state: int) -> None:
        if state != ProcessStates.STOPPING:
            self._stopping_since = None
        elif self._stopping_since is None:
            self._stopping_since = time.monotonic()

    def _on_event(self, line: bytes) -> None:
        eventname, _, processname = line.strip().partition(b" ")
        with self._changed:
            self._last_event = time.monotonic()
            if eventname.startswith(b"TICK_"):
                return  # proof of life only: nothing changed
            self._bump()
            if processname.decode(errors="replace") == self.name and \
                    eventname.startswith(b"PROCESS_STATE_"):
                state = getattr(ProcessStates, eventname[14:].decode(), None)
                if state is not None:
                    self._note_stopping(state)

    def _set_connected(self, connected: bool) -> None:
        with self._changed:
            self._connected = connected
            self._last_event = time.monotonic()
            self._bump()

    def _watch(self) -> None:
        delay = RECONNECT_MIN
        while not self._closed:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.events_path))
            except OSError:
                sock.close()
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_MIN
            self._socket = sock
            self._set_connected(True)
            try:
                with sock.makefile("rb") as lines:
                    for line in lines:
                        self._on_event(line)
            except OSError:
                pass
            finally:
                self._set_connected(False)
                self._socket = None
                sock.close()
