"""The endpoint's error answers, on a real socket with a Dummy qBittorrent service."""
from __future__ import annotations

import pytest

from plugin.auth import Authenticator, PasswordFile
from plugin.commands import CommandTable
from plugin.errors import Err, FsiError
from plugin.settings import Settings
from plugin.web import ENDPOINT, create_app
from tests.servers import post, served

PASSWORD = "unit-password"


class DummyService:
    """Stands in for QbittorrentService; records calls, raises what it is told to."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.fail: Exception | None = None

    def _act(self, *call):
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        return {"running": call[0] == "start", "state": "running", "pid": 42,
                "port": 8080, "uptime": 1}

    def start(self, port=None):
        return self._act("start", port)

    def stop(self, wait=None):
        return self._act("stop", wait)

    def restart(self):
        return self._act("restart")

    def status(self):
        return self._act("status")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home)
    PasswordFile(settings.auth_file).set(PASSWORD)
    return settings


@pytest.fixture
def service():
    return DummyService()


@pytest.fixture
def url(settings, service):
    auth = Authenticator(PasswordFile(settings.auth_file), idle=60, lifetime=600)
    app = create_app(settings, CommandTable(service, auth))
    with served(app) as base:
        yield base + ENDPOINT


def fsi(url, body, **kwargs):
    status, headers, answer = post(url, body, **kwargs)
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert isinstance(answer["err"], int) and isinstance(answer["msg"], str)
    return answer


def token(url):
    answer = fsi(url, {"cmd": "login", "params": {"username": "admin", "password": PASSWORD}})
    assert answer["err"] == 0
    return answer["results"]["token"]


@pytest.mark.parametrize("body, code", [
    ("{not json", Err.CONTENT),
    ("[1, 2]", Err.CONTENT),
    ("", Err.NO_INPUT),
    ('{"token": "x"}', Err.NO_INPUT),
    ('{"cmd": "launch_rockets"}', Err.REQUEST_FAILED),
    ('{"cmd": "Start"}', Err.REQUEST_FAILED),
    ('{"cmd": "status"}', Err.NOT_LOGGED_IN),
    ('{"cmd": "status", "token": "forged"}', Err.AUTHORIZE),
    ('{"cmd": "login", "params": {"username": "admin", "password": "nope"}}', Err.AUTHORIZE),
    ('{"cmd": "login", "params": {"username": "root", "password": "%s"}}' % PASSWORD,
     Err.AUTHORIZE),
    ('{"cmd": "login"}', Err.NO_INPUT),
])
def test_each_failure_has_its_code(url, body, code, service):
    answer = fsi(url, body)
    assert answer["err"] == code, answer
    assert "results" not in answer or "token" not in answer["results"]
    assert service.calls == []


def test_content_type_does_not_matter(url):
    # jQuery's default Content-Type is form-urlencoded even for a JSON string.
    answer = fsi(url, {"cmd": "status", "token": token(url)},
                 content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert answer["err"] == 0


def test_get_changes_nothing(url, service):
    answer = fsi(url, b"", method="GET")
    assert answer["err"] == Err.REQUEST_FAILED
    assert service.calls == []


def test_unknown_path_is_fsi_json(url):
    answer = fsi(url.replace(ENDPOINT, "/nowhere"), b"{}")
    assert answer["err"] == Err.NOT_EXISTS


@pytest.mark.parametrize("params", [{"port": "8080"}, {"port": None}, {"port": 1.5},
                                    {"port": 70000}, {"prot": 8080}])
def test_bad_start_params_never_reach_the_service(url, service, params):
    answer = fsi(url, {"cmd": "start", "token": token(url), "params": params})
    assert answer["err"] == Err.PARAMS
    assert service.calls == []


def test_service_errors_pass_through_with_results(url, service):
    service.fail = FsiError(Err.USED, "port 8080 is already in use", {"state": "running"})
    answer = fsi(url, {"cmd": "start", "token": token(url), "params": {"port": 8080}})
    assert answer == {"err": Err.USED, "msg": "port 8080 is already in use",
                      "results": {"state": "running"}}


def test_a_bug_is_a_system_error_not_a_500(url, service):
    service.fail = ZeroDivisionError("boom")
    answer = fsi(url, {"cmd": "status", "token": token(url)})
    assert answer["err"] == Err.SYSTEM
    assert "Traceback" not in answer["msg"] and "boom" not in answer["msg"]


def test_status_carries_the_web_ui_url_for_the_callers_host(url):
    answer = fsi(url, {"cmd": "status", "token": token(url)})
    assert answer["results"]["webui_url"] == "http://127.0.0.1:8080/"


def test_supervisord_down_is_server_offline(settings, tmp_path):
    offline = Settings(home=settings.home, supervisor_url="unix://%s" % (tmp_path / "none.sock"))
    with served(create_app(offline)) as base:
        answer = fsi(base + ENDPOINT, {"cmd": "status", "token": token(base + ENDPOINT)})
    assert answer["err"] == Err.SERVER_OFFLINE
    assert "supervisord" in answer["msg"]
