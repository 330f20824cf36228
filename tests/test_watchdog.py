"""The watchdog's rules, with a Dummy service, clock and Web UI (no processes, no sockets),
and its check against listeners of this process on 127.0.0.1.

Each ``turn`` is one step of the watchdog's thread, run here in the test's
own thread: a wait with a timeout lets that much Dummy time pass, a wait
without one (the thread would block until supervisord reports a change)
is recorded and returns.
"""
from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from plugin.settings import Settings
from plugin.state_cache import ProcessState
from plugin.watchdog import Watchdog, check_webui, start_watchdog
from tests.stack import free_port, wait_for

INTERVAL = 30.0
WALL_CLOCK = 1_800_000_000.0


class DummyClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DummyState:
    """The state cache's wait, on the Dummy clock."""

    def __init__(self, clock: DummyClock) -> None:
        self.clock = clock
        self.generation = 0
        self.connected = True
        self.waits: list[float | None] = []

    def wait_for_change(self, generation: int, timeout: float | None) -> bool:
        self.waits.append(timeout)
        if timeout is not None:
            self.clock.now += timeout
        return False


class DummyReport:
    """Where the watchdog hooks its status fields in."""

    health: Callable[[int | None], dict[str, Any]] | None = None


class DummyService:
    """qBittorrent as ``status`` tells it; a restart replaces its pid, as the real one does."""

    def __init__(self, state: str = "running") -> None:
        self.state = state
        self.pid = 100
        self.port = 8080
        self.settings = Settings(home=Path("/nonexistent"))
        self.report = DummyReport()
        self.busy = False  # another start/stop holds the lock
        self.ignores_term = False
        self.asked_to_restart: list[int] = []

    def status(self) -> dict[str, Any]:
        up = self.state in ("starting", "running", "stopping")
        return {"running": self.state in ("starting", "running"), "state": self.state,
                "pid": self.pid if up else None, "port": self.port, "uptime": 60}

    def restart_unresponsive(self, pid: int, kill_after: float,
                             on_signal: Callable[[str], None]) -> dict[str, Any] | None:
        self.asked_to_restart.append(pid)
        if self.busy or self.state != "running" or pid != self.pid:
            return None
        on_signal("TERM")
        if self.ignores_term:
            on_signal("KILL")
        self.pid += 1
        return self.status()


class DummyWebui:
    """Answers checks from a script: True answered, False not in time (its timeout passes).

    ``during`` maps a check's index to what happens while it is in progress.
    """

    def __init__(self, clock: DummyClock, answers: list[bool],
                 during: dict[int, Callable[[], None]] | None = None) -> None:
        self.clock = clock
        self.answers = answers
        self.during = during or {}
        self.checks: list[tuple[float, int, int]] = []

    def __call__(self, port: int, pid: int, timeout: float) -> bool:
        index = len(self.checks)
        self.checks.append((self.clock.now, pid, port))
        self.during.get(index, lambda: None)()
        if not self.answers[index]:
            self.clock.now += timeout
        return self.answers[index]


class Rig:
    def __init__(self, answers: list[bool], failures: int = 3, state: str = "running",
                 during: dict[int, Callable[[], None]] | None = None) -> None:
        self.clock = DummyClock()
        self.state = DummyState(self.clock)
        self.service = DummyService(state)
        self.webui = DummyWebui(self.clock, answers, during)
        self.watchdog = Watchdog(self.service, self.state, INTERVAL, failures,  # type: ignore
                                 kill_after=60, probe=self.webui, clock=self.clock,
                                 wall_clock=lambda: WALL_CLOCK)

    def check(self) -> dict[str, Any]:
        """Turns until the next check has been made; what status then adds for the pid."""
        done = len(self.webui.checks)
        for _ in range(10):
            self.watchdog.turn()
            if len(self.webui.checks) > done:
                return self.report()
        raise AssertionError("no check in 10 turns")

    def report(self) -> dict[str, Any]:
        status = self.service.status()
        return self.watchdog.report(status["pid"] if status["state"] == "running" else None)


def test_only_failures_in_a_row_restart_and_an_answer_starts_the_count_again():
    rig = Rig([False, False, True, False, False, False], failures=3)
    assert rig.report() == {"health": "unknown"}
    assert rig.check() == {"health": "unresponsive", "failed_checks": 1}
    assert rig.check() == {"health": "unresponsive", "failed_checks": 2}
    assert rig.check() == {"health": "ok"}
    rig.check()
    rig.check()
    assert rig.service.asked_to_restart == []
    report = rig.check()
    assert rig.service.asked_to_restart == [100]
    assert report == {"health": "unknown", "watchdog_restarts": 1,
                      "watchdog_last_restart": int(WALL_CLOCK),
                      "watchdog_last_reason": "its Web UI on port 8080 did not answer 3 "
                                              "checks in a row"}


def test_one_slow_answer_never_restarts_anything():
    rig = Rig([False, True] * 4, failures=2)
    for _ in range(8):
        rig.check()
    assert rig.service.asked_to_restart == []
    assert rig.report() == {"health": "ok"}


def test_checks_are_an_interval_apart_whatever_they_answer():
    rig = Rig([True, False, True, False], failures=9)
    for _ in range(4):
        rig.check()
    times = [at for at, _, _ in rig.webui.checks]
    assert [later - earlier for earlier, later in zip(times, times[1:])] == [INTERVAL] * 3
    assert {(pid, port) for _, pid, port in rig.webui.checks} == {(100, 8080)}


def test_a_check_in_progress_while_the_admin_stops_qbittorrent_is_dropped():
    rig = Rig([False, False], failures=2)
    rig.webui.during[1] = lambda: setattr(rig.service, "state", "stopping")
    rig.check()
    rig.check()
    assert rig.service.asked_to_restart == []
    rig.service.state = "stopped"
    assert rig.report() == {"health": "unknown"}


def test_a_check_in_progress_while_the_admin_restarts_it_is_dropped_and_the_count_starts_anew():
    rig = Rig([False, False, False], failures=2)
    rig.webui.during[1] = lambda: setattr(rig.service, "pid", 200)
    rig.check()
    rig.check()
    assert rig.report() == {"health": "unknown"}
    assert rig.check() == {"health": "unresponsive", "failed_checks": 1}
    assert rig.service.asked_to_restart == []
    assert [pid for _, pid, _ in rig.webui.checks] == [100, 100, 200]


@pytest.mark.parametrize("state", ["stopped", "starting", "stopping", "backoff", "exited",
                                   "fatal"])
def test_it_never_checks_nor_starts_qbittorrent_unless_it_runs(state):
    rig = Rig([], state=state)
    for _ in range(5):
        rig.watchdog.turn()
    assert rig.webui.checks == [] and rig.service.asked_to_restart == []
    # Each turn waits for supervisord's next event, without a timer.
    assert rig.state.waits == [None] * 5
    assert rig.report() == {"health": "unknown"}


def test_without_events_a_stopped_qbittorrent_is_looked_at_once_an_interval():
    rig = Rig([], state="stopped")
    rig.state.connected = False
    rig.watchdog.turn()
    assert rig.state.waits == [INTERVAL]


def test_a_busy_lifecycle_skips_the_round_and_the_next_failure_tries_again():
    rig = Rig([False, False, False, True], failures=2)
    rig.service.busy = True
    for _ in range(3):
        rig.check()
    assert rig.service.asked_to_restart == [100, 100]
    assert rig.report() == {"health": "unresponsive", "failed_checks": 3}
    assert rig.check() == {"health": "ok"}


def test_the_reason_says_when_sigterm_was_not_enough():
    rig = Rig([False, False], failures=2)
    rig.service.ignores_term = True
    rig.check()
    report = rig.check()
    assert report["watchdog_last_reason"] == ("its Web UI on port 8080 did not answer 2 "
                                              "checks in a row; killed 60 s after SIGTERM")
    assert report["watchdog_restarts"] == 1


def test_the_new_process_is_watched_from_its_first_check():
    rig = Rig([False, False, True], failures=2)
    rig.check()
    rig.check()
    assert rig.check() == {"health": "ok", "watchdog_restarts": 1,
                           "watchdog_last_restart": int(WALL_CLOCK),
                           "watchdog_last_reason": "its Web UI on port 8080 did not "
                                                   "answer 2 checks in a row"}
    assert rig.webui.checks[-1][1] == 101


def test_interval_zero_turns_the_watchdog_off():
    service = DummyService()
    service.settings = Settings(home=Path("/nonexistent"), watchdog_interval=0)
    assert start_watchdog(service) is None  # type: ignore[arg-type]
    assert service.report.health is None


class CountingService(DummyService):
    """A stopped qBittorrent; counts how often a watchdog looked."""

    def __init__(self) -> None:
        super().__init__("stopped")
        self.looks = 0

    def status(self) -> dict[str, Any]:
        self.looks += 1
        return super().status()


def test_one_watchdog_per_program_and_the_next_takes_over_when_it_ends(tmp_path):
    lock = tmp_path / "qbittorrent-watchdog.lock"
    first, second = CountingService(), CountingService()
    # A state cache without events: each wait lasts an interval at most.
    watchdogs = [Watchdog(service, ProcessState(None, "qbittorrent"), 0.02, 3,  # type: ignore
                          kill_after=1) for service in (first, second)]
    threads = [watchdogs[0].start(lock)]
    try:
        assert wait_for(lambda: first.looks > 0, timeout=10)
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600  # nobody else can hold it
        threads.append(watchdogs[1].start(lock))
        assert not wait_for(lambda: second.looks > 0, timeout=0.5)
        watchdogs[0].close()
        threads[0].join(10)
        assert not threads[0].is_alive()
        assert wait_for(lambda: second.looks > 0, timeout=10)
    finally:
        for watchdog in watchdogs:
            watchdog.close()
        for thread in threads:
            thread.join(10)


@contextlib.contextmanager
def listener(reply: bytes | None) -> Iterator[int]:
    """A listener on 127.0.0.1 of this process; its port. With ``reply``, one
    connection is accepted, gets it and is closed; without, none is ever accepted."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(reply)

        if reply is None:
            yield server.getsockname()[1]
            return
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield server.getsockname()[1]
        thread.join(10)


@pytest.mark.parametrize("reply", [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                                   b"HTTP/1.1 403 Forbidden\r\n\r\n", b""])
def test_any_answer_or_close_is_an_answer(reply):
    with listener(reply) as port:
        assert check_webui(port, os.getpid(), 10) is True


def test_a_listener_that_never_answers_fails_the_check():
    with listener(None) as port:
        assert check_webui(port, os.getpid(), 0.2) is False


def test_a_process_that_does_not_listen_on_the_port_is_not_asked():
    assert check_webui(free_port(), os.getpid(), 0.2) is None
