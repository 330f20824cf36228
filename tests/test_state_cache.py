"""The status cache and the event listener feeding it, without supervisord."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest
from supervisor.states import ProcessStates

from plugin.event_listener import encode_event, run_listener
from plugin import state_cache
from plugin.probes import exited
from plugin.state_cache import REASK, ProcessState
from tests.stack import wait_for


class DummyClient:
    """Answers getProcessInfo from ``info`` and counts the round trips."""

    def __init__(self, state: int = ProcessStates.RUNNING, pid: int | None = None) -> None:
        self.info = {"state": state, "pid": os.getpid() if pid is None else pid,
                     "start": 100, "now": 160}
        self.calls = 0

    def process_info(self, name: str) -> dict:
        self.calls += 1
        return dict(self.info)


class DummySupervisord:
    """The supervisord side of the event listener protocol, over pipes."""

    def __init__(self, path) -> None:
        stdin_r, self.stdin_w = os.pipe()
        self.stdout_r, stdout_w = os.pipe()
        self.reader = os.fdopen(self.stdout_r, "rb")
        self.thread = threading.Thread(target=run_listener, args=(
            path, os.fdopen(stdin_r, "rb"), os.fdopen(stdout_w, "wb")), daemon=True)
        self.thread.start()
        assert self.reader.readline() == b"READY\n"

    def emit(self, eventname: str, processname: str = "qbittorrent") -> None:
        payload = b"processname:%s groupname:%s from_state:RUNNING pid:1" % (
            processname.encode(), processname.encode())
        os.write(self.stdin_w, b"ver:3.0 server:supervisor serial:1 pool:fsi poolserial:1 "
                 b"eventname:%s len:%d\n%s" % (eventname.encode(), len(payload), payload))
        assert self.reader.readline() == b"RESULT 2\n"
        assert self.reader.read(7) == b"OKREADY"
        assert self.reader.readline() == b"\n"

    def exit(self) -> None:
        os.close(self.stdin_w)
        self.thread.join(5)


@pytest.fixture
def events(tmp_path):
    supervisord = DummySupervisord(tmp_path / "events.sock")
    yield supervisord
    if supervisord.thread.is_alive():
        supervisord.exit()


@contextlib.contextmanager
def connected_state(client: DummyClient, path) -> Iterator[ProcessState]:
    state = ProcessState(client, "qbittorrent", path)
    try:
        assert wait_for(lambda: state.connected, timeout=5)
        yield state
    finally:
        state.close()


def test_encode_event_keeps_the_event_and_process_names():
    header = {b"ver": b"3.0", b"eventname": b"PROCESS_STATE_STOPPING", b"len": b"64"}
    payload = b"processname:qbittorrent groupname:qbittorrent from_state:RUNNING pid:42"
    assert encode_event(header, payload) == b"PROCESS_STATE_STOPPING qbittorrent\n"


def test_without_events_every_read_asks_supervisord():
    client = DummyClient()
    state = ProcessState(client, "qbittorrent")
    state.info()
    state.info()
    assert client.calls == 2


def test_while_events_flow_the_answer_is_kept_until_a_change(events, tmp_path):
    client = DummyClient()
    with connected_state(client, tmp_path / "events.sock") as state:
        assert state.info()["state"] == ProcessStates.RUNNING
        assert state.info()["state"] == ProcessStates.RUNNING
        assert client.calls == 1
        client.info.update(state=ProcessStates.STOPPED, pid=0)
        events.emit("PROCESS_STATE_STOPPED")
        assert wait_for(lambda: state.info()["state"] == ProcessStates.STOPPED, timeout=5)
        calls = client.calls
        state.info()
        assert client.calls == calls


def test_a_kept_answer_is_trusted_only_while_events_or_ticks_arrive(events, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(state_cache, "EVENT_SILENCE_MAX", 0.3)
    client = DummyClient(state=ProcessStates.STOPPED, pid=0)
    with connected_state(client, tmp_path / "events.sock") as state:
        state.info()
        events.emit("TICK_5", "-")  # a tick proves the listener alive and changes nothing
        state.info()
        assert client.calls == 1
        # The listener hangs (still connected, no events): an admin's start
        # must show once the silence is longer than a tick's period.
        client.info.update(state=ProcessStates.RUNNING, pid=os.getpid())
        assert wait_for(lambda: state.info()["state"] == ProcessStates.RUNNING, timeout=2)


@pytest.mark.parametrize("transitional", [ProcessStates.STARTING, ProcessStates.BACKOFF,
                                          ProcessStates.STOPPING, ProcessStates.EXITED])
def test_a_state_supervisord_leaves_on_its_own_timers_is_asked_every_time(events, tmp_path,
                                                                          transitional):
    # STARTING turns RUNNING after startsecs inside supervisord's loop, and the
    # event of that change leaves only on the loop's next turn, up to 1 s later.
    client = DummyClient(state=transitional)
    with connected_state(client, tmp_path / "events.sock") as state:
        state.info()
        client.info.update(state=ProcessStates.RUNNING)
        assert state.info()["state"] == ProcessStates.RUNNING
        assert client.calls == 2


def test_a_lifecycle_decision_asks_supervisord_even_while_an_answer_is_kept(events, tmp_path):
    client = DummyClient(state=ProcessStates.STOPPED, pid=0)
    with connected_state(client, tmp_path / "events.sock") as state:
        state.info()
        # An admin's start has happened; its event is still on its way.
        client.info.update(state=ProcessStates.STARTING, pid=os.getpid())
        assert state.info()["state"] == ProcessStates.STOPPED  # a poll may lag by an event
        assert state.fresh_info()["state"] == ProcessStates.STARTING


def test_a_stopping_event_starts_the_stop_clock(events, tmp_path):
    client = DummyClient()
    with connected_state(client, tmp_path / "events.sock") as state:
        assert state.stopping_for() is None
        client.info.update(state=ProcessStates.STOPPING)
        events.emit("PROCESS_STATE_STOPPING")
        assert wait_for(lambda: state.stopping_for() is not None, timeout=5)
        time.sleep(0.05)
        assert state.info()["state"] == ProcessStates.STOPPING
        assert state.stopping_for() >= 0.05
        client.info.update(state=ProcessStates.STOPPED, pid=0)
        events.emit("PROCESS_STATE_STOPPED")
        assert wait_for(lambda: state.info()["state"] == ProcessStates.STOPPED, timeout=5)
        assert state.stopping_for() is None


def test_when_the_listener_goes_away_reads_ask_supervisord_again(events, tmp_path):
    client = DummyClient()
    with connected_state(client, tmp_path / "events.sock") as state:
        state.info()
        events.exit()  # supervisord gone: the listener's stdin hits EOF
        assert wait_for(lambda: not state.connected, timeout=5)
        calls = client.calls
        state.info()
        state.info()
        assert client.calls == calls + 2


def test_an_answer_naming_a_dead_pid_is_asked_again_and_never_kept(events, tmp_path):
    child = subprocess.Popen(["true"])
    assert wait_for(lambda: exited(child.pid), timeout=5)  # a zombie: not reaped yet
    client = DummyClient(pid=child.pid)
    with connected_state(client, tmp_path / "events.sock") as state:
        state.info()
        assert client.calls == REASK
        state.info()
        assert client.calls == 2 * REASK
        client.info.update(state=ProcessStates.STOPPED, pid=0)  # supervisord caught up
        assert state.info()["state"] == ProcessStates.STOPPED
        state.info()
        assert client.calls == 2 * REASK + 1
        child.wait()


def test_exited_knows_the_living():
    assert not exited(os.getpid())


def test_the_listener_imports_nothing_but_the_standard_library():
    # It runs as long as supervisord does: Bottle or supervisor's own modules
    # would double its memory.
    probe = ("import sys, plugin.event_listener; print(' '.join(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('plugin', 'supervisor', 'bottle', 'waitress'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["plugin", "plugin.event_listener", "plugin.parent"]
