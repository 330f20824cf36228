"""End to end: log, version and the Web UI credentials, checked with a real qBittorrent client."""
from __future__ import annotations

import subprocess
from importlib.metadata import version

import pytest
import qbittorrentapi

import plugin
from tests.stack import free_port, webui_client


pytestmark = pytest.mark.usefixtures("stopped_after")


def test_a_real_client_logs_in_with_the_credentials_the_plugin_hands_out(stack):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    credentials = stack.call("webui_credentials")["results"]
    assert credentials["applied"] is True
    client = webui_client(port, credentials)
    client.auth_log_in()
    assert client.app.version.lstrip("v").startswith("4.")
    with pytest.raises(qbittorrentapi.LoginFailed):
        webui_client(port, {**credentials, "password": credentials["password"] + "x"}).auth_log_in()


def test_new_credentials_apply_on_restart(stack):
    port = free_port()
    stack.call("start", port=port)
    answer = stack.call("set_webui_credentials", username="nas-admin", password="correct horse")
    assert answer["err"] == 0, answer
    assert answer["results"]["restart_required"] is True
    pending = stack.call("webui_credentials")["results"]
    assert pending == {"username": "nas-admin", "password": "correct horse", "applied": False}
    assert stack.call("restart")["err"] == 0
    assert stack.call("webui_credentials")["results"]["applied"] is True
    webui_client(port, pending).auth_log_in()


@pytest.mark.parametrize("params, err", [
    ({"username": "nas-admin"}, 9997),
    ({"username": "ab", "password": "long enough"}, 9995),
    ({"username": "has space", "password": "long enough"}, 9995),
    ({"username": "nas-admin", "password": "short"}, 9995),
    ({"username": "nas-admin", "password": 123456789}, 9995),
    ({"username": "nas-admin", "password": "line\nbreak"}, 9995),
])
def test_bad_credentials_are_refused_and_change_nothing(stack, params, err):
    before = stack.call("webui_credentials")["results"]
    assert stack.call("set_webui_credentials", **params)["err"] == err
    assert stack.call("webui_credentials")["results"] == before


def test_log_tails_qbittorrents_own_log_and_its_output(stack):
    port = free_port()
    stack.call("start", port=port)
    answer = stack.call("log", lines=5)
    assert answer["err"] == 0, answer
    assert answer["results"]["source"] == "qbittorrent"
    assert 1 <= len(answer["results"]["lines"]) <= 5
    full = stack.call("log", lines=1000)["results"]["lines"]
    assert any("Web UI: Now listening on IP: 127.0.0.1, port: %d" % port in line
               for line in full)
    stdout = stack.call("log", source="stdout", lines=50)["results"]["lines"]
    assert any("WebUI" in line for line in stdout)
    for bad in (0, 1001, "10", 1.5, True):
        assert stack.call("log", lines=bad)["err"] == 9995
    assert stack.call("log", source="syslog")["err"] == 9995


def test_version_names_plugin_qbittorrent_and_supervisor(stack):
    answer = stack.call("version")
    assert answer["err"] == 0, answer
    installed = subprocess.run(["qbittorrent-nox", "--version"], capture_output=True,
                               text=True).stdout.split()[-1].lstrip("v")
    assert answer["results"] == {"plugin": plugin.__version__, "fsi": "2.1",
                                 "qbittorrent": installed, "supervisor": version("supervisor")}
