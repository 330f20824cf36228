"""QbittorrentService decisions against a Dummy supervisord (no processes started).

The faults that need supervisord's own answers are tested on a real one in
test_e2e_faults.py.
"""
from __future__ import annotations

import threading

import pytest
from supervisor.states import ProcessStates

from plugin.errors import Err, FsiError
from plugin.commands import validate_port
from plugin.lifecycle import QbittorrentService
from plugin.program_config import ProgramConfig
from plugin.settings import Settings
from tests.stack import free_port

CONF = b"[program:qbittorrent]\ncommand=qbittorrent-nox --webui-port=8080\n"


class DummySupervisorClient:
    """A supervisord whose qBittorrent sits in ``state``; records every action asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.state = ProcessStates.STOPPED

    def process_info(self, name):
        return {"state": self.state, "pid": 0, "now": 10, "start": 0, "spawnerr": ""}

    def __getattr__(self, action):
        def record(*args):
            self.calls.append(action)
        return record


@pytest.fixture
def client():
    return DummySupervisorClient()


@pytest.fixture
def service(tmp_path, client):
    path = tmp_path / "q.ini"
    path.write_bytes(CONF)
    settings = Settings(home=tmp_path, start_timeout=2, stop_wait=1, busy_wait=0.05)
    return QbittorrentService(settings, client, ProgramConfig(path))


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
