"""Property-based: arbitrary bytes and JSON at the endpoint, through the real server in-process.

Only supervisord and qBittorrent are replaced (tests.local_server.DummyService),
so thousands of examples run in seconds; tests/test_e2e_fuzz.py runs a slice
against the real stack. ``make fuzz`` selects the ``fuzz`` profile (conftest).
"""
from __future__ import annotations

import pytest
from hypothesis import given

from plugin.errors import Err, FsiError
from tests.fuzzing import CONTENT_TYPES, LIFECYCLE, carries, check_answer, request_bodies, \
    with_token
from tests.local_server import PASSWORD, LocalServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = LocalServer(tmp_path_factory.mktemp("home"), idle=24 * 3600, lifetime=24 * 3600)
    yield running
    running.close()


class Harness:
    """Keeps a valid token at hand; logs in from an address the fuzzed requests never use,
    so that their wrong passwords (from 127.0.0.1) lock only themselves out."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.token = self._login()

    def _login(self) -> str:
        return self.server.auth.login("admin", PASSWORD, "harness")["token"]

    def valid_token(self) -> str:
        try:
            self.server.auth.check(self.token)
        except FsiError:  # a fuzzed logout ended it
            self.token = self._login()
        return self.token


@pytest.fixture(scope="module")
def harness(server):
    return Harness(server)


def throw(server, harness, drawn, content_type, authenticated):
    payload, body = drawn
    token = harness.valid_token()
    if authenticated:
        body = with_token(payload, body, token)
    before = len(server.service.changes)
    answer = check_answer(*server.post_raw(body, content_type))
    changes = server.service.changes[before:]
    if answer["err"] == Err.SUCCEED and carries(payload, token, *LIFECYCLE):
        assert len(changes) == 1 and changes[0][0] in ("start", "stop"), changes
    else:
        assert changes == [], (payload, answer)
    return answer


@given(drawn=request_bodies(), content_type=CONTENT_TYPES)
def test_unauthenticated_requests_get_fsi_json_and_change_nothing(server, harness, drawn,
                                                                  content_type):
    answer = throw(server, harness, drawn, content_type, authenticated=False)
    assert answer["err"] != Err.SUCCEED, answer


@given(drawn=request_bodies(), content_type=CONTENT_TYPES)
def test_authenticated_requests_get_fsi_json_and_only_valid_ones_act(server, harness, drawn,
                                                                     content_type):
    throw(server, harness, drawn, content_type, authenticated=True)


@given(drawn=request_bodies())
def test_keep_alive_connections_survive_hostile_bodies(server, harness, drawn):
    throw(server, harness, drawn, "application/json", authenticated=True)
    check_answer(*server.post_raw(b'{"cmd":"status","token":"%s"}'
                                  % harness.valid_token().encode()))
