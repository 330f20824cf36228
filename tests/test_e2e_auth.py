"""End to end: access control on the real stack, checked from outside."""
from __future__ import annotations

import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from plugin.errors import Err
from tests.stack import PASSWORD, Stack, free_port, wait_for

# Seconds. IDLE stays ten times the half-second between uses below, so that a
# loaded machine cannot turn "used" into "idle".
IDLE, LIFETIME, LOCKOUT = 5, 12, 4


@pytest.fixture(scope="module")
def short_stack():
    """Tokens that expire in seconds and a lockout that ends in seconds."""
    running = Stack(extra_env={"FSI_TOKEN_IDLE": str(IDLE), "FSI_TOKEN_MAX": str(LIFETIME),
                               "FSI_LOCKOUT_WINDOW": str(LOCKOUT)}).start()
    yield running
    running.close()


def login(stack: Stack, password: str = PASSWORD, username: str = "admin") -> dict:
    return stack.post({"cmd": "login", "params": {"username": username, "password": password}})


def status(stack: Stack, token: str) -> dict:
    return stack.post({"cmd": "status", "token": token})


def passwd(stack: Stack, new_password: str) -> subprocess.CompletedProcess:
    """`qbittorrent-fsi passwd --stdin` as an admin script would run it."""
    return subprocess.run([sys.executable, "-m", "plugin", "passwd", "--stdin"],
                          input=new_password + "\n", env=stack.env, capture_output=True,
                          text=True, timeout=60)


def test_login_tells_the_idle_expiry(short_stack):
    answer = login(short_stack)
    assert answer["err"] == 0
    assert answer["results"]["expires_in"] == IDLE and len(answer["results"]["token"]) >= 40


def test_a_used_token_lives_past_the_idle_time_an_unused_one_does_not(short_stack):
    used = login(short_stack)["results"]["token"]
    unused = login(short_stack)["results"]["token"]
    deadline = time.monotonic() + IDLE + 1.5
    while time.monotonic() < deadline:
        assert status(short_stack, used)["err"] == 0
        time.sleep(0.5)
    answer = status(short_stack, unused)
    assert answer["err"] == Err.AUTHORIZE and "expired" in answer["msg"]


def test_the_absolute_cap_ends_even_a_token_in_use(short_stack):
    started = time.monotonic()
    token = login(short_stack)["results"]["token"]
    # used every half second, so only the cap can end it, and not before its time
    assert wait_for(lambda: status(short_stack, token)["err"] == Err.AUTHORIZE,
                    timeout=LIFETIME + 10, interval=0.5)
    assert time.monotonic() - started >= LIFETIME


def test_logout_ends_the_token_at_once(short_stack):
    token = login(short_stack)["results"]["token"]
    other = login(short_stack)["results"]["token"]
    assert short_stack.post({"cmd": "logout", "token": token})["err"] == 0
    assert status(short_stack, token)["err"] == Err.AUTHORIZE
    assert status(short_stack, other)["err"] == 0


def test_wrong_username_and_wrong_password_are_indistinguishable(short_stack):
    wrong_user = login(short_stack, username="root")
    wrong_password = login(short_stack, password="not-it")
    assert wrong_user == wrong_password
    assert wrong_user["err"] == Err.AUTHORIZE


def test_lockout_after_five_failures_and_its_end(short_stack):
    wait_for(lambda: login(short_stack)["err"] == 0, timeout=LOCKOUT + 5)  # earlier failures
    for _ in range(5):
        assert login(short_stack, password="wrong")["err"] == Err.AUTHORIZE
    locked = login(short_stack)
    assert locked["err"] == Err.LOCKED, locked
    assert "try again in" in locked["msg"]
    assert 1 <= locked["results"]["retry_after"] <= LOCKOUT
    assert wait_for(lambda: login(short_stack)["err"] == 0, timeout=LOCKOUT + 5, interval=0.5)


def test_bodies_over_64_kib_are_refused_and_the_server_keeps_answering(short_stack):
    token = login(short_stack)["results"]["token"]
    for size in (64 * 1024 + 1, 2 * 1024 * 1024):
        status_code, headers, body = short_stack.post_raw(b"{" + b" " * size + b"}")
        assert status_code == 200 and headers["Cache-Control"] == "no-store"
        answer = json.loads(body)
        assert answer["err"] == Err.REQUEST_FAILED and "too large" in answer["msg"]
        assert status(short_stack, token)["err"] == 0


def test_get_answers_9972_and_changes_nothing(short_stack):
    token = login(short_stack)["results"]["token"]
    config = short_stack.program_conf.read_bytes()
    url = short_stack.url + "?cmd=start&token=" + token
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert json.loads(response.read())["err"] == Err.REQUEST_FAILED
    assert status(short_stack, token)["results"]["running"] is False
    assert short_stack.program_conf.read_bytes() == config


def test_runtime_files_and_socket_are_private(short_stack):
    home = short_stack.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "auth.json").stat().st_mode) == 0o600
    socket_path = home / "supervisor.sock"
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o700
    supervisord_pid = int((home / "supervisord.pid").read_text())
    assert tcp_listening_ports(supervisord_pid) == set()


def tcp_listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on, from its socket fds and /proc/net/tcp{,6}."""
    fd_dir = Path("/proc/%d/fd" % pid)
    inodes = {os.readlink(fd)[8:-1] for fd in fd_dir.iterdir()
              if os.readlink(fd).startswith("socket:[")}
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_password_change_by_cli_drops_tokens_and_the_seed_is_ignored_later(fresh_stack):
    token = fresh_stack.login()
    assert status(fresh_stack, token)["err"] == 0
    short = passwd(fresh_stack, "short")
    assert short.returncode != 0 and "8 characters" in short.stderr
    assert status(fresh_stack, token)["err"] == 0

    changed = passwd(fresh_stack, "brand-new-secret-1")
    assert changed.returncode == 0, changed.stderr
    assert "brand-new-secret-1" not in changed.stdout + changed.stderr
    assert status(fresh_stack, token)["err"] == Err.AUTHORIZE
    assert login(fresh_stack)["err"] == Err.AUTHORIZE
    assert login(fresh_stack, "brand-new-secret-1")["err"] == 0

    # A restart with FSI_PASSWORD still set must not bring the seed back.
    fresh_stack.process.send_signal(signal.SIGTERM)
    fresh_stack.process.wait(60)
    fresh_stack.output.close()
    fresh_stack.start()
    assert login(fresh_stack)["err"] == Err.AUTHORIZE
    assert login(fresh_stack, "brand-new-secret-1")["err"] == 0


def test_no_plain_password_in_the_runtime_directory_logs_or_environment(fresh_stack):
    fresh_stack.login()
    login(fresh_stack, password="wrong-guess-marker")
    assert passwd(fresh_stack, "second-secret-marker").returncode == 0
    fresh_stack.token = login(fresh_stack, "second-secret-marker")["results"]["token"]
    assert fresh_stack.call("start", port=free_port())["err"] == 0  # qBittorrent's logs too
    fresh_stack.call("stop")
    secrets = [PASSWORD, "wrong-guess-marker", "second-secret-marker"]
    for path in fresh_stack.home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, path
    for program in ("qbittorrent-fsi",):
        pid = int(fresh_stack.ctl("pid", program).strip())
        environ = Path("/proc/%d/environ" % pid).read_bytes()
        assert PASSWORD.encode() not in environ and b"FSI_PASSWORD" not in environ
    supervisord_pid = int((fresh_stack.home / "supervisord.pid").read_text())
    assert b"FSI_PASSWORD" not in Path("/proc/%d/environ" % supervisord_pid).read_bytes()


def test_default_host_and_qbittorrent_as_a_configured_user():
    stack = Stack(extra_env={"FSI_QBT_USER": "nobody"})
    del stack.env["FSI_HOST"]  # the default must be loopback only
    stack.start()
    try:
        elsewhere = stack.url.replace("127.0.0.1", "127.0.0.2")  # another loopback address
        with pytest.raises(OSError):
            urllib.request.urlopen(urllib.request.Request(elsewhere, data=b"{}"), timeout=5)
        answer = stack.call("start", port=free_port())
        assert answer["err"] == 0, answer
        uid_line = next(line for line in Path("/proc/%d/status" % answer["results"]["pid"])
                        .read_text().splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(_uid("nobody"))] * 4
        assert stack.call("stop")["err"] == 0
    finally:
        stack.close()


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid
