"""End to end, faults: each gives a clear code and loses nothing (real supervisord, qbittorrent-nox)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from plugin.conf_text import render
from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.rpc_client import Faults, SupervisorClient
from plugin.qbt_profile import profile_config
from tests.stack import Stack, accepting, free_port, wait_for

FAKE = Path(__file__).with_name("fake_qbittorrent.py")


@pytest.fixture
def restore_config(stack):
    """Put the live program config and the profile back after a test that breaks them."""
    config = stack.program_conf.read_bytes()
    profile = profile_config(stack.home / "profile").read_bytes()
    yield
    stack.call("stop")
    stack.program_conf.write_bytes(config)
    profile_config(stack.home / "profile").write_bytes(profile)


def edit_config(stack: Stack, pattern: str, replacement: str) -> bytes:
    text = stack.program_conf.read_text()
    edited = re.sub(pattern, replacement, text, count=1, flags=re.M)
    assert edited != text
    stack.program_conf.write_text(edited)
    return edited.encode()


def test_supervisord_gone_gives_9977_and_the_plugin_recovers(fresh_stack):
    service = QbittorrentService(fresh_stack.settings)
    try:
        assert service.status()["state"] == "stopped"
        assert wait_for(lambda: service.state.connected, timeout=5)
        fresh_stack.shutdown()
        with pytest.raises(FsiError) as raised:
            service.status()
        assert raised.value.code == Err.SERVER_OFFLINE
        assert "supervisord" in raised.value.msg
        with pytest.raises(FsiError) as raised:
            service.start(free_port())
        assert raised.value.code == Err.SERVER_OFFLINE
        fresh_stack.start()

        def answers() -> bool:
            try:
                return service.status()["state"] == "stopped"
            except FsiError:
                return False

        assert wait_for(answers, timeout=10)
        assert wait_for(lambda: service.state.connected, timeout=5)
        port = free_port()
        assert service.start(port)["port"] == port and accepting(port)
        # By hand, behind the plugin's back: the kept status must follow.
        fresh_stack.ctl("stop", "qbittorrent")
        assert service.status()["state"] == "stopped"
        fresh_stack.ctl("start", "qbittorrent")
        status = service.status()
        assert status["state"] == "running" and status["port"] == port and accepting(port)
    finally:
        service.state.close()


def test_unwritable_program_config_gives_9990_and_changes_nothing():
    # As root, permission bits stop nothing: make the file a read-only bind
    # mount (as a container's `-v qbittorrent.ini:...:ro` does), inside a
    # mount namespace private to this stack.
    stack = Stack(wrapper=["unshare", "--mount", "--propagation", "private"]).start()
    try:
        port = free_port()
        assert stack.call("start", port=port)["err"] == 0
        before = stack.program_conf.read_bytes()
        mount = subprocess.run(["nsenter", "--target", str(stack.process.pid), "--mount",
                                "mount", "--bind", "-o", "ro", str(stack.program_conf),
                                str(stack.program_conf)], capture_output=True, text=True)
        assert mount.returncode == 0, mount.stderr
        answer = stack.call("start", port=free_port())
        assert answer["err"] == Err.SAVE, answer
        assert str(stack.program_conf) in answer["msg"]
        assert stack.program_conf.read_bytes() == before
        status = stack.call("status")["results"]
        assert status["running"] and status["port"] == port and accepting(port)
        assert not list(stack.home.glob(".qbittorrent.ini.*"))
    finally:
        stack.close()


def test_config_refused_by_supervisord_gives_9970_and_stops_nothing(stack, restore_config):
    port = free_port()
    pid = stack.ok("start", port=port)["pid"]
    broken = edit_config(stack, r"^startretries=.*$", "startretries=many")
    answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.CONFIG, answer
    assert "many" in answer["msg"] and str(stack.program_conf) in answer["msg"]
    assert stack.program_conf.read_bytes() == broken
    # The refusal came before the stop: the same process runs on, and the
    # answer says so with the address of its Web UI.
    results = answer["results"]
    assert results["running"] and results["pid"] == pid and results["port"] == port
    assert results["webui_url"] == "http://127.0.0.1:%d/" % port
    status = stack.call("status")["results"]
    assert status["pid"] == pid and accepting(port)


def test_config_refused_while_stopped_starts_nothing(stack, restore_config):
    broken = edit_config(stack, r"^startretries=.*$", "startretries=many")
    answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.CONFIG, answer
    assert "nothing was changed" in answer["msg"]
    assert stack.program_conf.read_bytes() == broken
    assert stack.call("status")["results"]["state"] == "stopped"


def test_config_without_the_program_gives_9970(stack, restore_config):
    broken = edit_config(stack, r"^command=.*$", "")
    answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.CONFIG, answer
    assert "command" in answer["msg"]
    assert stack.program_conf.read_bytes() == broken


@pytest.mark.parametrize("kind", ["missing", "not executable"])
def test_unusable_binary_gives_9999_naming_it(stack, restore_config, tmp_path, kind):
    binary = tmp_path / "qbittorrent-nox"
    if kind == "not executable":
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o644)
    edit_config(stack, r"^command=qbittorrent-nox", "command=%s" % binary)
    answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.FAILED, answer
    assert str(binary) in answer["msg"]
    assert stack.call("status")["results"]["running"] is False


@pytest.mark.parametrize("fault, said", [
    ("profile is a file", "Could not create required directory"),
    ("Web UI cannot bind", "Unable to bind"),
    ("bad command line", "unknown command line parameter"),
])
def test_qbittorrent_exiting_at_once_gives_9999_with_its_log(stack, restore_config, tmp_path,
                                                             fault, said):
    if fault == "profile is a file":
        (tmp_path / "profile").write_text("")
        edit_config(stack, r"--profile=\S+", "--profile=%s" % (tmp_path / "profile"))
    elif fault == "Web UI cannot bind":
        # An address of TEST-NET-1 that no interface has: qBittorrent cannot
        # bind its Web UI there (and no packet is sent).
        conf = profile_config(stack.home / "profile")
        conf.write_text(conf.read_text().replace("WebUI\\Address=127.0.0.1",
                                                 "WebUI\\Address=192.0.2.1"))
    else:
        edit_config(stack, r"--webui-port=", "--no-such-option --webui-port=")
    answer = stack.call("start", port=free_port())
    assert answer["err"] == Err.FAILED, answer
    assert said in answer["msg"]
    # Reported as failed, and not retried behind our back.
    time.sleep(1.5)
    status = stack.call("status")["results"]
    assert status["running"] is False and status["state"] in ("stopped", "fatal")


def test_crash_comes_back_on_the_same_port_with_status_true_throughout(stack):
    port = free_port()
    pid = stack.ok("start", port=port)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    seen_gone = False
    while time.monotonic() < deadline:
        status = stack.call("status")["results"]
        if status["pid"] == pid:
            # Only before anyone could know: once an answer said it is gone, it stays gone.
            assert not seen_gone, status
        else:
            seen_gone = True
            if status["pid"] is not None:
                assert status["running"] and status["port"] == port
                os.kill(status["pid"], 0)  # the pid it names is alive
                if accepting(port):
                    break
        time.sleep(0.01)
    assert seen_gone and accepting(port), "not back on port %d within 5 s" % port


def test_stop_while_qbittorrent_starts_up_is_not_lost(stack):
    # qBittorrent 4.5 loses a SIGTERM that comes before its event loop runs:
    # a stop right after an admin's (or autorestart's) start must still end
    # in its own clean exit, not in a SIGKILL after the grace.
    assert stack.call("start", port=free_port())["err"] == 0
    assert stack.call("stop")["err"] == 0
    client = SupervisorClient(stack.settings.supervisor_url)
    for delay in (0.0, 0.015, 0.03):
        client.start_process("qbittorrent")
        time.sleep(delay)
        answer = stack.call("stop", wait=10)
        assert answer["err"] == 0 and answer["results"]["state"] == "stopped", answer
    log = (stack.home / "log" / "supervisord.log").read_text()
    assert re.findall(r"stopped: qbittorrent \((.*?)\)", log)[-3:] == ["exit status 0"] * 3


def fake_stack(tmp_path: Path, listen_delay: float, term_delay: float, **env: str) -> Stack:
    """A stack whose qBittorrent program is tests/fake_qbittorrent.py."""
    stack = Stack(extra_env=env)
    template = render(stack.settings).program
    stack.program_conf.write_text(template.replace(
        "command=qbittorrent-nox", "command=%s %s --listen-delay=%g --term-delay=%g"
        % (sys.executable, FAKE, listen_delay, term_delay)))
    return stack.start()


def test_start_and_stop_that_outlive_the_request_give_9998_and_status_follows(tmp_path):
    stack = fake_stack(tmp_path, listen_delay=2, term_delay=3, FSI_START_TIMEOUT="0.5",
                       FSI_STOP_GRACE="300")
    try:
        config = SupervisorClient(stack.settings.supervisor_url).config_info("qbittorrent")
        assert config["stopwaitsecs"] == 300
        port = free_port()
        answer = stack.call("start", port=port)
        assert answer["err"] == Err.TIMEOUT, answer
        assert answer["results"]["state"] == "starting"
        assert wait_for(lambda: stack.call("status")["results"]["running"] and accepting(port),
                        timeout=10)
        pid = stack.call("status")["results"]["pid"]

        answer = stack.call("stop", wait=0.5)
        assert answer["err"] == Err.TIMEOUT, answer
        assert answer["results"]["state"] == "stopping"
        status = stack.call("status")["results"]
        assert status["state"] == "stopping" and status["stopping_for"] >= 0.5
        again = stack.call("stop", wait=0.5)  # a second stop waits, it does not kill
        assert again["err"] == Err.TIMEOUT and again["results"]["state"] == "stopping"
        assert stack.call("start", port=port)["err"] == Err.BUSY
        os.kill(pid, 0)
        assert wait_for(lambda: stack.call("status")["results"]["state"] == "stopped",
                        timeout=10)
        assert "exits after SIGTERM" in (stack.home / "log" / "qbittorrent.out.log").read_text()
        assert "SIGKILL" not in (stack.home / "log" / "supervisord.log").read_text()
    finally:
        stack.close()


def test_a_launch_answers_each_of_its_calls_or_its_fault(stack):
    client = SupervisorClient(stack.settings.supervisor_url)
    missing = client.launch("no-such-program", regroup=True)
    assert missing.start_fault.code == Faults.BAD_NAME and missing.pid is None
    assert missing.regroup_fault.code == Faults.BAD_NAME  # adding it: no such group
    assert client.supervisor_version() == version("supervisor")
