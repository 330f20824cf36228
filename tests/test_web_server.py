"""The web server's own settings on real sockets (waitress in this process)."""
from __future__ import annotations

import json
import socket

import pytest

from plugin.errors import Err
from plugin.settings import Settings
from tests.local_server import LocalServer, fsi


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


def test_the_settings_reach_waitress(serve):
    adj = serve(connection_limit=7, channel_timeout=8, cleanup_interval=9,
                max_header_size=5000).server.adj
    assert (adj.connection_limit, adj.channel_timeout, adj.cleanup_interval,
            adj.max_request_header_size) == (7, 8, 9, 5000)


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
