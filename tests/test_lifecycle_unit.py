"""QbittorrentService decisions against a Dummy supervisord (no processes started).

The faults that need supervisord's own answers are tested on a real one in
test_e2e_faults.py.
"""
from __future__ import annotations

import subprocess
import threading

import pytest
from supervisor.states import ProcessStates

from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.program_config import ProgramConfig
from plugin.rpc_client import Faults, Launch, SupervisorFault
from plugin.settings import Settings
from tests.stack import free_port, wait_for

CONF = b"[program:qbittorrent]\ncommand=qbittorrent-nox --webui-port=8080\n"


class DummySupervisorClient:
    """A supervisord whose qBittorrent sits in ``state``; records every action asked.

    ``parsed_port`` is the port of the config supervisord last parsed;
    ``refuse_reread`` makes a re-read fail as a broken include would.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.state = ProcessStates.STOPPED
        self.parsed_port = 8080
        self.refuse_reread = False

    def process_info(self, name):
        return {"state": self.state, "pid": 0, "now": 10, "start": 0, "spawnerr": ""}

    def config_info(self, name):
        return {"name": name, "command": "qbittorrent-nox --webui-port=%d" % self.parsed_port,
                "stdout_logfile": None, "stderr_logfile": None}

    def reload_config(self):
        self.calls.append("reload_config")
        if self.refuse_reread:
            raise SupervisorFault(Faults.CANT_REREAD, "CANT_REREAD: /etc/x.conf: bad line")
        return [], ["qbittorrent"], []

    def stop_process(self, name):
        self.calls.append("stop_process")

    def launch(self, name, regroup=False):
        self.calls.append("launch")
        self.state = ProcessStates.STARTING
        return Launch(regroup_fault=None, start_fault=None, pid=None)


@pytest.fixture
def client():
    return DummySupervisorClient()


def make_service(home, client) -> QbittorrentService:
    path = home / "q.ini"
    path.write_bytes(CONF)
    settings = Settings(home=home, start_timeout=2, stop_wait=1, busy_wait=0.05)
    return QbittorrentService(settings, client, ProgramConfig(path))


@pytest.fixture
def service(tmp_path, client):
    return make_service(tmp_path, client)


def test_a_second_lifecycle_request_is_busy(service):
    with service._lock:
        errors = []
        thread = threading.Thread(target=lambda: errors.append(_code(service.stop)))
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
    assert errors == [Err.BUSY]


def test_start_while_stopping_is_busy(service, client):
    client.state = ProcessStates.STOPPING
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.BUSY
    assert client.calls == []


def _code(action) -> int:
    try:
        action()
    except FsiError as error:
        return error.code
    return Err.SUCCEED


def test_a_refused_port_change_stops_nothing_and_keeps_the_old_port(service, client):
    client.state = ProcessStates.RUNNING
    client.refuse_reread = True
    port = free_port()
    assert _code(lambda: service.start(port)) == Err.CONFIG
    assert "stop_process" not in client.calls and "launch" not in client.calls
    assert service.config.port() == 8080


def test_a_broken_include_does_not_block_a_start_on_the_parsed_port(service, client):
    client.refuse_reread = True
    _code(service.start)
    assert client.calls == ["reload_config", "launch"]


def test_an_unchanged_file_is_not_read_again(service, client):
    _code(service.start)
    client.state = ProcessStates.STOPPED
    _code(service.start)
    assert client.calls == ["reload_config", "launch", "launch"]


def test_an_orphan_on_the_profile_is_stopping_and_holds_starts_off(tmp_path, client, fakes):
    # A qBittorrent on the profile that supervisord (pid 0 here) does not run.
    fake = fakes.start(tmp_path / "profile", term_delay=1.0)
    service = make_service(tmp_path, client)
    status = service.status()
    assert (status["state"], status["pid"], status["port"]) == ("stopping", fake.pid, fake.port)
    assert status["orphan"] and not status["running"]
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.BUSY and caught.value.results["pid"] == fake.pid
    assert client.calls == [] and service.config.port() == 8080
    assert wait_for(lambda: service.status()["state"] == "stopped", timeout=10)
    assert fake.process.wait(5) == 0


# -- the watchdog's restart ---------------------------------------------------

def test_a_watchdog_restart_never_waits_for_the_lock(service, client):
    client.state = ProcessStates.RUNNING
    signals: list[str] = []
    with service._lock:
        assert service.restart_unresponsive(4242, 1, signals.append) is None
    assert client.calls == [] and signals == []


def test_a_watchdog_restart_of_a_pid_that_no_longer_runs_does_nothing(service, client):
    client.state = ProcessStates.RUNNING  # the Dummy's pid is 0, never 4242
    signals: list[str] = []
    assert service.restart_unresponsive(4242, 1, signals.append) is None
    assert client.calls == [] and signals == []


class HungChildSupervisor(DummySupervisorClient):
    """A supervisord whose RUNNING qBittorrent is a real child process that ignores SIGTERM.

    Its stop only moves the state to STOPPING (the hung process does nothing);
    its SIGKILL kills the child, which it reaps as supervisord would: STOPPED.
    """

    def __init__(self, child: subprocess.Popen) -> None:
        super().__init__()
        self.child = child
        self.state = ProcessStates.RUNNING

    def process_info(self, name):
        if self.state == ProcessStates.STOPPING and self.child.poll() is not None:
            self.state = ProcessStates.STOPPED
        pid = self.child.pid if self.state != ProcessStates.STOPPED else 0
        return {"state": self.state, "pid": pid, "now": 100, "start": 0, "spawnerr": ""}

    def stop_process(self, name):
        super().stop_process(name)
        self.state = ProcessStates.STOPPING

    def kill_process(self, name):
        self.calls.append("kill_process")
        self.child.kill()


def test_an_admins_stop_during_the_kill_wait_goes_ahead_and_nothing_is_started(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    try:
        client = HungChildSupervisor(child)
        service = make_service(tmp_path, client)
        signals: list[str] = []
        outcome: list[object] = []
        watchdog = threading.Thread(target=lambda: outcome.append(
            service.restart_unresponsive(child.pid, 2, signals.append)))
        watchdog.start()
        assert wait_for(lambda: signals == ["TERM"], timeout=10)
        # Not 9992: the watchdog holds no lock while it waits; the process is
        # still stopping when this stop's wait ends.
        assert _code(lambda: service.stop(wait=0.1)) == Err.TIMEOUT
        watchdog.join(30)
        assert outcome == [None] and signals == ["TERM", "KILL"]
        assert client.calls == ["stop_process", "kill_process"]
        assert service.status()["state"] == "stopped"
    finally:
        child.kill()
        child.wait()


def test_a_profile_qbittorrents_user_cannot_own_is_a_config_error(tmp_path, client):
    path = tmp_path / "q.ini"
    path.write_bytes(CONF)
    settings = Settings(home=tmp_path, qbt_user="no-such-user-fsi", busy_wait=0.05)
    service = QbittorrentService(settings, client, ProgramConfig(path))
    with pytest.raises(FsiError) as caught:
        service.start()
    assert caught.value.code == Err.CONFIG and "no such user" in caught.value.msg
    assert "launch" not in client.calls
