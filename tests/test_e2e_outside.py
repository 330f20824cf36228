"""End to end: faults that come from outside the plugin, on the real stack.

A hung event listener, a foreign byte in qBittorrent's config, a config
directory qBittorrent's start cannot write, a hostile ``Host`` header, and
hundreds of restarts on a port of the kernel's ephemeral range.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
from typing import Iterator

from plugin.errors import Err
from plugin.qbt_profile import profile_config
from plugin.rpc_client import SupervisorClient
from tests.stack import Stack, accepting, ephemeral_range, free_port, wait_for

#: supervisorctl and FSI status must agree this soon whatever the listener does.
AGREEMENT = 6.0
RESTARTS = 300


def test_a_hung_listener_does_not_keep_status_stale(stack, stopped_after):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    listener = SupervisorClient(stack.settings.supervisor_url).process_info(
        "qbittorrent-fsi-events")["pid"]
    os.kill(listener, signal.SIGSTOP)
    try:
        stack.ctl("stop", "qbittorrent")
        assert wait_for(lambda: stack.call("status")["results"]["state"] == "stopped",
                        timeout=AGREEMENT)
        stack.ctl("start", "qbittorrent")
        assert wait_for(lambda: stack.call("status")["results"]["running"], timeout=AGREEMENT)
    finally:
        os.kill(listener, signal.SIGCONT)
    assert stack.call("status")["results"]["port"] == port


def test_a_foreign_byte_in_qbittorrents_config_does_not_block_a_start(stack, stopped_after):
    config = profile_config(stack.home / "profile")
    config.write_bytes(config.read_bytes() + b"\n[FsiForeign]\nNote=caf\xe9 \xff\n")
    # New credentials: the start has to edit that file.
    assert stack.call("set_webui_credentials", username="outside",
                      password="outside-password")["err"] == 0
    answer = stack.call("start", port=free_port())
    assert answer["err"] == 0, answer


@contextlib.contextmanager
def immutable(path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_start_that_fails_after_the_stop_says_so_and_keeps_the_port(stack, stopped_after):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    assert stack.call("set_webui_credentials", username="other",
                      password="other-password")["err"] == 0
    with immutable(profile_config(stack.home / "profile").parent):
        answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.SAVE, answer
    # qBittorrent was stopped to edit its config: the answer says so, and the
    # program config names the port it ran on, not the one never reached.
    assert answer["results"]["running"] is False and answer["results"]["port"] == port
    assert stack.configured_port() == port
    assert stack.ok("start")["port"] == port


def status_with_host(stack: Stack, host: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.putrequest("POST", "/include/index.php", skip_host=True)
        connection.putheader("Host", host)
        body = json.dumps({"cmd": "status", "token": stack.token or stack.login()}).encode()
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def test_the_webui_url_never_carries_a_hostile_host_header(stack):
    port = stack.configured_port()
    for hostile in ('"><script>alert(1)</script>', "a b", "evil.example/<x>"):
        assert status_with_host(stack, hostile)["results"]["webui_url"] is None
    assert status_with_host(stack, "nas.local:8086")["results"]["webui_url"] == \
        "http://nas.local:%d/" % port
    assert status_with_host(stack, "[::1]:8086")["results"]["webui_url"] == \
        "http://[::1]:%d/" % port


def test_a_rebound_name_is_refused_when_the_admin_lists_the_nas_names():
    named = Stack({"FSI_ALLOWED_HOSTS": "nas.local 127.0.0.1"}).start()
    try:
        named.login()  # on 127.0.0.1
        assert status_with_host(named, "nas.local:%d" % named.port)["err"] == 0
        refused = status_with_host(named, "rebound.example:%d" % named.port)
        assert refused["err"] == Err.REQUEST_FAILED and "FSI_ALLOWED_HOSTS" in refused["msg"]
    finally:
        named.close()


def test_restarts_on_an_ephemeral_port_never_see_a_listener_that_is_not_there(stack,
                                                                               stopped_after):
    port = free_port(ephemeral=True)
    assert port in ephemeral_range()
    assert stack.call("start", port=port)["err"] == 0
    failures = []
    for _ in range(RESTARTS):
        answer = stack.call("restart")
        if answer["err"] != 0:
            failures.append(answer)
    assert failures == []
    assert accepting(port)


def test_a_foreign_page_cannot_lock_the_admin_out(stack):
    body = json.dumps({"cmd": "login", "params": {"username": "admin", "password": "guess"}})
    for _ in range(10):
        _, _, answer = stack.post_raw(body.encode(), content_type="text/plain",
                                      headers={"Origin": "http://evil.example"})
        assert json.loads(answer)["err"] == Err.REQUEST_FAILED
    assert stack.login()
