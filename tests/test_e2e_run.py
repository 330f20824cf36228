"""`qbittorrent-fsi run` (what `make run` calls): first-run password, clean Ctrl-C, missing binary."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from tests.stack import Stack, accepting, free_port, wait_for


def test_first_run_prints_a_password_that_logs_in_and_ctrl_c_stops_everything():
    stack = Stack()
    del stack.env["FSI_PASSWORD"]
    stack.start()
    try:
        assert wait_for(lambda: "admin password" in stack.log(), timeout=5)
        printed = re.search(r"admin password .*: (\S+)", stack.log()).group(1)
        assert "http://127.0.0.1:%d/include/index.php" % stack.port in stack.log()
        answer = stack.post({"cmd": "login",
                             "params": {"username": "admin", "password": printed}})
        assert answer["err"] == 0
        stack.token = answer["results"]["token"]
        port = free_port()
        pid = stack.ok("start", port=port)["pid"]
        assert printed not in (stack.home / "auth.json").read_text()

        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(60) == 0
        assert not accepting(port) and not accepting(stack.port)
        assert not os.path.exists("/proc/%d" % pid)
    finally:
        stack.close()


def test_missing_qbittorrent_is_named_with_its_install_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSI_")}
    env.update(FSI_HOME=str(tmp_path), PATH=os.path.dirname(sys.executable))
    result = subprocess.run([sys.executable, "-m", "plugin", "run"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "apt-get install -y qbittorrent-nox" in result.stderr


def test_a_renamed_program_runs_end_to_end_and_supervisorctl_agrees():
    stack = Stack(extra_env={"FSI_PROGRAM": "qbt-alt"}).start()
    try:
        port = free_port()
        answer = stack.call("start", port=port)
        assert answer["err"] == 0 and answer["results"]["port"] == port, answer
        running = r"^qbt-alt\s+RUNNING\s+pid %d," % answer["results"]["pid"]
        # supervisorctl says RUNNING after startsecs (1 s); FSI answers at the Web UI.
        assert wait_for(lambda: re.search(running, stack.ctl("status", "qbt-alt"), re.M),
                        timeout=5)
        assert stack.configured_port() == port and accepting(port)
        assert stack.call("stop")["results"]["state"] == "stopped"
        assert re.search(r"^qbt-alt\s+STOPPED", stack.ctl("status", "qbt-alt"), re.M)
        programs = stack.ctl("status")
        assert "qbt-alt-fsi " in programs and "qbt-alt-fsi-events " in programs
        # The listener's protocol chatter (READY, RESULT 2 OK) is logged nowhere.
        assert not list((stack.home / "log").glob("*events*stdout*"))
    finally:
        stack.close()


def test_the_admins_choice_survives_a_restart_of_supervisord():
    stack = Stack().start()
    try:
        port = free_port()
        assert stack.ok("start", port=port)["autostart"] is True
        stack.shutdown()
        assert not accepting(port)
        stack.start()
        # No FSI call: the plugin starts qBittorrent by itself, as it was running.
        assert wait_for(lambda: accepting(port), timeout=10)
        assert wait_for(lambda: "RUNNING" in stack.ctl("status", "qbittorrent"), timeout=5)

        assert stack.call("stop")["results"]["autostart"] is False
        stack.shutdown()
        stack.start()
        assert not wait_for(lambda: accepting(port), timeout=3)
        assert "STOPPED" in stack.ctl("status", "qbittorrent")
        stack.login()
        status = stack.call("status")["results"]
        assert (status["state"], status["autostart"]) == ("stopped", False)
        assert not accepting(port)
    finally:
        stack.close()
