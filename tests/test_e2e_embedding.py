"""End to end: the plugin inside Debian's own supervisord, as a NAS admin runs it.

qBittorrent runs as a system user of the test's own; everything else is
root's. These are the ways an admin's box broke: a privilege escalation
through the runtime directory, a deleted profile, privileged ports, a
missing data directory, broken neighbours in conf.d, two installs, socket
credentials, hand edits, a reboot, and uninstalling.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from plugin.errors import Err
from plugin.qbt_profile import profile_config
from tests.debian_supervisor import BIN, DebianSupervisor, EmbeddedStack, SystemUser
from tests.stack import PASSWORD, accepting, free_port, wait_for


@pytest.fixture(scope="module")
def user():
    created = SystemUser()
    yield created
    created.close()


@pytest.fixture(scope="module")
def stack(user):
    """This module's stack: the plugin in Debian's supervisord, qBittorrent as ``user``."""
    running = EmbeddedStack(DebianSupervisor().start(), FSI_QBT_USER=user.name).start()
    yield running
    running.close()


def as_user(user: SystemUser, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user.name, "--", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)


def test_qbittorrents_user_cannot_make_supervisord_run_a_program(stack, user):
    marker = stack.supervisor.root / "escalated"
    program = "[program:x]\ncommand=/bin/touch %s\nuser=root\nautostart=true\n" % marker
    # What an older recipe did: the runtime directory given to qBittorrent's user.
    subprocess.run(["chown", "-R", user.name, str(stack.home)], check=True)
    assert stack.install().returncode == 0  # installing again repairs it
    for target in (stack.program_conf, stack.supervisor.conf_d / "x.conf"):
        attempt = as_user(user, "printf '%s' >> %s" % (program, target))
        assert attempt.returncode != 0, target
    assert "refused" in stack.supervisor.ctl("update", user=user.name).lower() or \
        "permission denied" in stack.supervisor.ctl("update", user=user.name).lower()
    stack.supervisor.ctl("update")
    assert not wait_for(marker.exists, timeout=2)
    # qBittorrent's user still owns its profile, and nothing else of the install.
    assert stack.home.stat().st_uid == 0 and stack.program_conf.stat().st_uid == 0
    assert (stack.home / "profile").stat().st_uid == user.uid


def test_a_deleted_profile_comes_back_with_the_preset_and_its_owner(stack, user,
                                                                   stopped_after):
    shutil.rmtree(stack.home / "profile")
    answer = stack.call("start", port=free_port())
    assert answer["err"] == 0, answer
    config = profile_config(stack.home / "profile").read_text()
    for line in ("Session\\DHTEnabled=false", "Connection\\UPnP=false",
                 "WebUI\\Address=127.0.0.1", "WebUI\\Username="):
        assert line in config
    assert profile_config(stack.home / "profile").stat().st_uid == user.uid
    assert os.stat("/proc/%d" % answer["results"]["pid"]).st_uid == user.uid


def test_a_privileged_port_is_refused_for_qbittorrents_user(stack, stopped_after):
    port = free_port()
    pid = stack.ok("start", port=port)["pid"]
    answer = stack.call("start", port=80)
    assert answer["err"] == Err.PARAMS and "privileged" in answer["msg"], answer
    status = stack.call("status")["results"]
    assert (status["pid"], status["port"]) == (pid, port)
    assert stack.configured_port() == port


def test_a_broken_neighbour_in_conf_d_costs_no_restart(stack, stopped_after):
    port = free_port()
    pid = stack.ok("start", port=port)["pid"]
    broken = stack.supervisor.conf_d / "zz-broken.conf"
    broken.write_text("[program:zz-broken]\ncommand=/bin/true\nstartsecs=soon\n")
    try:
        answer = stack.call("start", port=free_port())
        assert answer["err"] == Err.CONFIG and "zz-broken.conf" in answer["msg"], answer
        assert answer["results"]["pid"] == pid and stack.configured_port() == port
        assert stack.call("stop")["err"] == 0
        # No port change needs no re-read: the broken file does not block it.
        assert stack.ok("start")["port"] == port
    finally:
        broken.unlink()


def test_a_port_edited_by_hand_is_the_one_started(stack, stopped_after):
    port, edited = free_port(), free_port()
    assert stack.call("start", port=port)["err"] == 0
    text = stack.program_conf.read_text()
    stack.program_conf.write_text(text.replace("--webui-port=%d" % port,
                                                  "--webui-port=%d" % edited))
    answer = stack.call("start")
    assert answer["err"] == 0 and answer["results"]["port"] == edited, answer
    assert accepting(edited) and not accepting(port)


def test_the_admins_choice_survives_a_reboot(stack):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    stack.supervisor.stop()
    stack.supervisor.start()
    assert wait_for(lambda: accepting(port), timeout=10)  # no FSI call
    answer = stack.login() and stack.call("stop")
    assert answer["results"]["autostart"] is False, answer
    stack.supervisor.stop()
    stack.supervisor.start()
    assert wait_for(lambda: accepting(stack.port), timeout=10)
    assert not wait_for(lambda: accepting(port), timeout=3)
    assert "STOPPED" in stack.ctl("status", "qbittorrent")


def test_a_missing_runtime_directory_never_stops_the_host_supervisord():
    supervisor = DebianSupervisor().start()
    try:
        installed = EmbeddedStack(supervisor).start()
        supervisor.stop()
        shutil.rmtree(installed.home)  # an unmounted data volume, or a "reset"
        supervisor.start()
        assert wait_for(lambda: "RUNNING" in supervisor.ctl("status", "admin-sleeper"), timeout=5)
        assert wait_for(lambda: accepting(installed.port))
        answer = installed.post({"cmd": "login",
                                 "params": {"username": "admin", "password": PASSWORD}})
        assert answer["err"] == Err.LOAD and str(installed.home) in answer["msg"], answer
    finally:
        supervisor.close()


def test_two_installs_share_a_supervisord_only_under_their_own_names():
    supervisor = DebianSupervisor().start()
    try:
        first = EmbeddedStack(supervisor).start()
        second = EmbeddedStack(supervisor, FSI_HOME=str(supervisor.root / "fsi2"),
                               FSI_LOG_DIR=str(supervisor.root / "log2"))
        refused = second.install()
        assert refused.returncode != 0 and "another install" in refused.stderr
        assert str(first.home) in (supervisor.conf_d / "qbittorrent-fsi.conf").read_text()
        second.env["FSI_PROGRAM"] = "qbt-two"
        second.start()
        ports = free_port(), free_port()
        assert first.call("start", port=ports[0])["err"] == 0
        assert second.call("start", port=ports[1])["err"] == 0
        assert wait_for(lambda: "RUNNING" in supervisor.ctl("status", "qbt-two"), timeout=5)
        assert first.call("status")["results"]["port"] == ports[0]
    finally:
        supervisor.close()


def test_socket_credentials_reach_the_plugin_and_stay_private():
    credentials = "username=fsi-admin\npassword=socket-secret\n"
    supervisor = DebianSupervisor()
    text = supervisor.main_config.read_text()
    text = text.replace("[unix_http_server]\n", "[unix_http_server]\n" + credentials)
    supervisor.main_config.write_text(text.replace("[supervisorctl]\n",
                                                   "[supervisorctl]\n" + credentials))
    supervisor.start()
    try:
        installed = EmbeddedStack(supervisor, FSI_SUPERVISOR_USERNAME="fsi-admin",
                                  FSI_SUPERVISOR_PASSWORD="socket-secret").start()
        assert installed.call("start", port=free_port())["err"] == 0
        snippet = supervisor.conf_d / "qbittorrent-fsi.conf"
        assert "socket-secret" in snippet.read_text()
        assert snippet.stat().st_mode & 0o077 == 0
        assert installed.call("stop")["err"] == 0
    finally:
        supervisor.close()


def test_passwd_finds_the_install_or_refuses(tmp_path):
    supervisor = DebianSupervisor().start()
    try:
        installed = EmbeddedStack(supervisor).start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FSI_")}
        passwd = [str(BIN / "qbittorrent-fsi"), "passwd", "--stdin"]
        changed = subprocess.run([*passwd, "--conf-d", str(supervisor.conf_d)], cwd="/",
                                 env=env, input="a-new-password\n", capture_output=True,
                                 text=True, timeout=60)
        assert changed.returncode == 0, changed.stderr
        assert installed.post({"cmd": "login", "params": {
            "username": "admin", "password": "a-new-password"}})["err"] == 0
        refused = subprocess.run([*passwd, "--conf-d", str(tmp_path)], cwd=tmp_path, env=env,
                                 input="another-password\n", capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode != 0 and "no install found" in refused.stderr
        assert list(tmp_path.iterdir()) == []
    finally:
        supervisor.close()


def test_uninstall_stops_qbittorrent_gracefully_and_removes_exactly_its_snippets():
    supervisor = DebianSupervisor().start()
    try:
        installed = EmbeddedStack(supervisor)
        first = installed.install()
        assert "qBittorrent will run as root" in first.stdout
        installed.start()
        admin = supervisor.admin_pid()
        assert installed.call("start", port=free_port())["err"] == 0
        env = {k: v for k, v in installed.env.items() if k != "FSI_HOME"}
        uninstall = [str(BIN / "qbittorrent-fsi"), "uninstall-conf", "--dest",
                     str(supervisor.conf_d)]
        done = subprocess.run(uninstall, env=env, capture_output=True, text=True, timeout=700)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in supervisor.conf_d.iterdir()) == ["admin-sleeper.conf"]
        status = supervisor.ctl("status")
        assert "qbittorrent" not in status and supervisor.admin_pid() == admin
        log = (supervisor.root / "var/log/supervisor/supervisord.log").read_text()
        assert re.search(r"stopped: qbittorrent \(exit status 0\)", log)
        assert installed.home.is_dir()
        purge = subprocess.run([*uninstall, "--purge", "--supervisor-url", supervisor.url],
                               env={**env, "FSI_HOME": str(installed.home)},
                               capture_output=True, text=True, timeout=120)
        assert purge.returncode == 0, purge.stderr
        assert not installed.home.exists()
    finally:
        supervisor.close()
