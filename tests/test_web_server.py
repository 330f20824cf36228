"""The web server's own settings on real sockets: its limits, and a trusted reverse proxy.

waitress runs in this process (tests/local_server.py); every request comes
from 127.0.0.1, which plays the NAS web server when it is the trusted proxy.
"""
from __future__ import annotations

import json
import socket

import pytest

from plugin.auth import LOCKOUT_FAILURES
from plugin.errors import Err
from plugin.settings import Settings
from tests.local_server import PASSWORD, LocalServer, fsi

CLIENT_A = "192.0.2.1"
CLIENT_B = "192.0.2.2"


@pytest.fixture
def serve(tmp_path):
    """Start a LocalServer with the given settings; closed after the test."""
    servers: list[LocalServer] = []

    def start(**settings) -> LocalServer:
        servers.append(LocalServer(tmp_path, **settings))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def post(server: LocalServer, payload: dict, **headers: str) -> dict:
    body = json.dumps(payload).encode()
    return fsi(server.request("POST", body, headers={"Content-Type": "application/json",
                                                     **headers}))


def login_via_proxy(server: LocalServer, forwarded_for: str, password: str) -> int:
    answer = post(server, {"cmd": "login", "params": {"username": "admin", "password": password}},
                  **{"X-Forwarded-For": forwarded_for})
    return answer["err"]


def test_the_settings_reach_waitress(serve):
    adj = serve(connection_limit=7, channel_timeout=8, cleanup_interval=9,
                max_header_size=5000).server.adj
    assert (adj.connection_limit, adj.channel_timeout, adj.cleanup_interval,
            adj.max_request_header_size) == (7, 8, 9, 5000)
    assert adj.trusted_proxy is None and adj.clear_untrusted_proxy_headers


def test_an_idle_connection_is_closed_after_the_channel_timeout(serve):
    server = serve(channel_timeout=1, cleanup_interval=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        # waitress looks once per cleanup interval and its loop wakes once a second.
        assert idle.recv(1) == b""


def test_a_head_over_the_limit_is_refused_as_fsi_json(serve):
    server = serve()
    filler = "x" * Settings.max_header_size
    answer = fsi(server.request("POST", b"{}", headers={"X-Filler": filler}))
    assert answer["err"] == Err.REQUEST_FAILED and "Header Fields Too Large" in answer["msg"]
    assert post(server, {"cmd": "status", "token": server.login()})["err"] == 0


def test_behind_a_trusted_proxy_each_client_has_its_own_lockout(serve):
    server = serve(trusted_proxy="127.0.0.1")
    answers = [login_via_proxy(server, CLIENT_A, "wrong") for _ in range(LOCKOUT_FAILURES + 1)]
    assert answers == [Err.AUTHORIZE] * LOCKOUT_FAILURES + [Err.LOCKED]
    assert login_via_proxy(server, CLIENT_B, PASSWORD) == 0
    assert login_via_proxy(server, CLIENT_A, PASSWORD) == Err.LOCKED


def test_only_the_address_the_proxy_added_counts(serve):
    # nginx's $proxy_add_x_forwarded_for appends the peer to what the client sent.
    server = serve(trusted_proxy="127.0.0.1")
    for number in range(LOCKOUT_FAILURES):
        forged = "198.51.100.%d, %s" % (number, CLIENT_A)
        assert login_via_proxy(server, forged, "wrong") == Err.AUTHORIZE
    assert login_via_proxy(server, CLIENT_A, PASSWORD) == Err.LOCKED
    assert login_via_proxy(server, CLIENT_B, PASSWORD) == 0


@pytest.mark.parametrize("settings", [{}, {"trusted_proxy": "192.0.2.254"}],
                         ids=["no-proxy", "another-proxy"])
def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(serve, settings):
    server = serve(**settings)
    for _ in range(LOCKOUT_FAILURES):
        assert login_via_proxy(server, CLIENT_A, "wrong") == Err.AUTHORIZE
    assert login_via_proxy(server, CLIENT_B, PASSWORD) == Err.LOCKED


def test_a_page_served_through_the_proxy_passes_the_cross_site_check(serve):
    server = serve(trusted_proxy="127.0.0.1")
    page = {"Origin": "http://nas.local:5000", "X-Forwarded-Host": "nas.local:5000"}
    token = post(server, {"cmd": "login", "params": {"username": "admin",
                                                     "password": PASSWORD}}, **page)
    answer = post(server, {"cmd": "status", "token": token["results"]["token"]}, **page)
    assert answer["err"] == 0 and answer["results"]["webui_url"] == "http://nas.local:8080/"


def test_a_malformed_forwarded_header_is_refused_as_fsi_json(serve):
    server = serve(trusted_proxy="127.0.0.1")
    answer = post(server, {"cmd": "status"}, **{"X-Forwarded-For": '"'})
    assert answer["err"] == Err.REQUEST_FAILED and "X-Forwarded-For" in answer["msg"], answer
    assert login_via_proxy(server, CLIENT_A, PASSWORD) == 0
