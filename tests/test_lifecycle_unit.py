"""QbittorrentService decisions against a Dummy supervisord (no processes started)."""
from __future__ import annotations

import threading

import pytest
from supervisor.states import ProcessStates

from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService, validate_port
from plugin.program_config import ProgramConfig
from plugin.rpc_client import Faults, SupervisorFault
from plugin.settings import Settings
from tests.stack import free_port

CONF = b"[program:qbittorrent]\ncommand=qbittorrent-nox --webui-port=8080\n"


class DummySupervisorClient:
    """Records calls; start leaves the process in ``start_state``."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.state = ProcessStates.STOPPED
        self.start_state = ProcessStates.BACKOFF
        self.faults: dict[str, SupervisorFault] = {}
        self.stderr = "line one\nBind failed: address in use\n"

    def _record(self, name: str) -> None:
        self.calls.append(name)
        if name in self.faults:
            raise self.faults[name]

    def process_info(self, name):
        return {"state": self.state, "pid": 0, "now": 10, "start": 0, "spawnerr": ""}

    def start_process(self, name):
        self._record("start")
        self.state = self.start_state

    def stop_process(self, name):
        self._record("stop")
        self.state = ProcessStates.STOPPED

    def reload_group(self, group):
        self._record("reload")

    def tail_stderr(self, name, length):
        return self.stderr

    def tail_stdout(self, name, length):
        return ""


@pytest.fixture
def client():
    return DummySupervisorClient()


@pytest.fixture
def service(tmp_path, client):
    path = tmp_path / "q.ini"
    path.write_bytes(CONF)
    settings = Settings(home=tmp_path, start_timeout=2, stop_wait=1, busy_wait=0.05)
    return QbittorrentService(settings, client, ProgramConfig(path))


def test_refused_config_is_rolled_back(service, client):
    client.faults["reload"] = SupervisorFault(Faults.CANT_REREAD, "CANT_REREAD: bad line")
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.CONFIG
    assert "bad line" in caught.value.msg
    assert service.config.path.read_bytes() == CONF
    assert "start" not in client.calls


def test_missing_binary_names_it(service, client):
    client.faults["start"] = SupervisorFault(Faults.NO_FILE, "NO_FILE: qbittorrent-nox")
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.FAILED
    assert "qbittorrent-nox" in caught.value.msg


def test_a_process_that_dies_at_once_fails_with_its_log_and_no_retries(service, client):
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.FAILED
    assert "Bind failed" in caught.value.msg
    assert client.calls == ["reload", "start", "stop"]


def test_a_second_lifecycle_request_is_busy(service):
    with service._lock:
        errors = []
        thread = threading.Thread(target=lambda: errors.append(_code(service.stop)))
        thread.start()
        thread.join()
    assert errors == [Err.BUSY]


def test_start_while_stopping_is_busy(service, client):
    client.state = ProcessStates.STOPPING
    with pytest.raises(FsiError) as caught:
        service.start(free_port())
    assert caught.value.code == Err.BUSY
    assert client.calls == []


@pytest.mark.parametrize("value", [True, 1.0, "1", None, 0, 65536])
def test_validate_port_refuses_non_ports(value):
    with pytest.raises(FsiError) as caught:
        validate_port(value)
    assert caught.value.code == Err.PARAMS


def _code(action) -> int:
    try:
        action()
    except FsiError as error:
        return error.code
    return Err.SUCCEED
