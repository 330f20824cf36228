"""The endpoint's error codes for protocol, auth and service failures (Dummy service)."""
from __future__ import annotations

import json

import pytest

from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.settings import Settings
from tests.local_server import PASSWORD, LocalServer, fsi


@pytest.fixture
def token(server):
    return server.login()


def call(server, payload) -> dict:
    return fsi(server.post_raw(json.dumps(payload).encode()))


@pytest.mark.parametrize("payload, code", [
    ({"token": "x"}, Err.NO_INPUT),
    ({"cmd": "launch_rockets"}, Err.REQUEST_FAILED),
    ({"cmd": "Start"}, Err.REQUEST_FAILED),
    ({"cmd": "status"}, Err.NOT_LOGGED_IN),
    ({"cmd": "status", "token": "forged"}, Err.AUTHORIZE),
    ({"cmd": "login", "params": {"username": "admin", "password": "nope"}}, Err.AUTHORIZE),
    ({"cmd": "login", "params": {"username": "root", "password": PASSWORD}}, Err.AUTHORIZE),
    ({"cmd": "login"}, Err.NO_INPUT),
])
def test_each_failure_has_its_code(server, payload, code):
    answer = call(server, payload)
    assert answer["err"] == code, answer
    assert "token" not in answer.get("results", {})
    assert server.service.changes == []


@pytest.mark.parametrize("params", [{"port": "8080"}, {"port": None}, {"port": 1.5},
                                    {"port": 70000}, {"prot": 8080}])
def test_bad_start_params_never_reach_the_service(server, token, params):
    answer = call(server, {"cmd": "start", "token": token, "params": params})
    assert answer["err"] == Err.PARAMS
    assert server.service.changes == []


def test_service_errors_pass_through_with_results(server, token, monkeypatch):
    def refuse(port=None):
        raise FsiError(Err.USED, "port 8080 is already in use", {"state": "running"})

    monkeypatch.setattr(server.service, "start", refuse)
    answer = call(server, {"cmd": "start", "token": token, "params": {"port": 8080}})
    assert answer == {"err": Err.USED, "msg": "port 8080 is already in use",
                      "results": {"state": "running"}}


@pytest.mark.parametrize("host, url", [
    ("nas.local:8086", "http://nas.local:8080/"),
    ("192.168.1.20", "http://192.168.1.20:8080/"),
    ("[fe80::1]:8086", "http://[fe80::1]:8080/"),
])
def test_status_carries_the_web_ui_url_for_the_callers_host(server, token, host, url):
    # The NAS page opens qBittorrent's Web UI on the host the browser used.
    body = json.dumps({"cmd": "status", "token": token}).encode()
    answer = fsi(server.request("POST", body, headers={"Host": host}))
    assert answer["results"]["webui_url"] == url


def test_supervisord_down_is_server_offline(tmp_path):
    offline = Settings(home=tmp_path, supervisor_url="unix://%s" % (tmp_path / "none.sock"))
    server = LocalServer(tmp_path, service=QbittorrentService(offline))
    try:
        answer = call(server, {"cmd": "status", "token": server.login()})
    finally:
        server.close()
    assert answer["err"] == Err.SERVER_OFFLINE
    assert "supervisord" in answer["msg"]
