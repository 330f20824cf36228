"""Debian's own supervisord (the ``supervisor`` package) in a temp root, and the plugin in it.

The main config is Debian's /etc/supervisor/supervisord.conf with its paths
moved into the temp root; conf.d holds a program of the admin's own that
must never be touched. The plugin joins it the documented way:
``qbittorrent-fsi install-conf --dest conf.d``, then ``supervisorctl update``.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from plugin.rpc_client import SupervisorClient
from tests.stack import Stack, accepting, kill_processes_of, terminate, wait_for

SUPERVISORD = "/usr/bin/supervisord"
SUPERVISORCTL = "/usr/bin/supervisorctl"
MAIN_CONFIG = Path("/etc/supervisor/supervisord.conf")
BIN = Path(sys.executable).parent
ADMIN_PROGRAM = "[program:admin-sleeper]\ncommand=/bin/sleep 100000\nautostart=true\n"


class DebianSupervisor:
    """Debian's supervisord, run as its service runs it, with its state in ``root``."""

    def __init__(self, main_extra: str = "") -> None:
        for binary in (SUPERVISORD, SUPERVISORCTL):
            if not os.access(binary, os.X_OK):
                raise RuntimeError("these tests need Debian's supervisor package "
                                   "(apt-get install -y supervisor); they never skip")
        self.root = Path(tempfile.mkdtemp(prefix="fsi-deb-"))
        self.root.chmod(0o711)  # qBittorrent's user passes through to its profile
        text = MAIN_CONFIG.read_text()
        for path in ("/var/run", "/var/log/supervisor", "/etc/supervisor/conf.d"):
            text = text.replace(path, str(self.root) + path)
            (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.conf_d = self.root / "etc/supervisor/conf.d"
        self.main_config = self.root / "etc/supervisor/supervisord.conf"
        self.main_config.write_text(text + main_extra)
        (self.conf_d / "admin-sleeper.conf").write_text(ADMIN_PROGRAM)
        self.url = "unix://%s/var/run/supervisor.sock" % self.root
        self.process: subprocess.Popen | None = None

    def start(self) -> "DebianSupervisor":
        env = {k: v for k, v in os.environ.items() if not k.startswith("FSI_")}
        self.log = open(self.root / "supervisord.out", "ab")
        self.process = subprocess.Popen([SUPERVISORD, "-n", "-c", str(self.main_config)],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: "admin-sleeper" in self.ctl("status")
                        or self.process.poll() is not None) or self.process.poll() is not None:
            output = self.output()
            self.close()
            raise RuntimeError("Debian's supervisord did not come up: %s" % output)
        return self

    def output(self) -> str:
        return (self.root / "supervisord.out").read_text(errors="replace")[-3000:]

    def ctl(self, *args: str, user: str | None = None) -> str:
        command = [SUPERVISORCTL, "-c", str(self.main_config), *args]
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return done.stdout + done.stderr

    def admin_pid(self) -> int:
        return SupervisorClient(self.url).process_info("admin-sleeper")["pid"]

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
            self.log.close()

    def close(self) -> None:
        self.stop()
        kill_processes_of(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


class SystemUser:
    """A system user of this test's own, for qBittorrent (removed again by close)."""

    def __init__(self) -> None:
        self.name = "fsi-qbt-%s" % secrets.token_hex(3)
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", self.name], check=True)
        self.uid = pwd.getpwnam(self.name).pw_uid

    def close(self) -> None:
        subprocess.run(["userdel", self.name], check=False)


class EmbeddedStack(Stack):
    """Stack's FSI helpers for a plugin that ``install-conf`` put into Debian's supervisord."""

    def __init__(self, supervisor: DebianSupervisor, **env: str) -> None:
        super().__init__()
        os.rmdir(self.home)  # the runtime directory is inside the supervisor's root
        self.supervisor = supervisor
        self.env.update({"FSI_HOME": str(supervisor.root / "fsi"),
                         "FSI_LOG_DIR": str(supervisor.root / "log" / "fsi"), **env})
        self.home = Path(self.env["FSI_HOME"])

    def install(self, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "qbittorrent-fsi"), "install-conf", "--dest", str(self.supervisor.conf_d),
             "--supervisor-url", self.supervisor.url, *extra],
            env=self.env, capture_output=True, text=True, timeout=60)

    def start(self) -> "EmbeddedStack":
        try:
            installed = self.install()
            assert installed.returncode == 0, installed.stderr
            self.supervisor.ctl("update")
            if not wait_for(lambda: accepting(self.port)):
                raise RuntimeError("the plugin did not come up: %s"
                                   % self.supervisor.ctl("status"))
        except BaseException:
            self.close()
            raise
        return self

    @property
    def program_conf(self) -> Path:
        return self.home / "qbittorrent.ini"

    def ctl(self, *args: str) -> str:
        return self.supervisor.ctl(*args)

    def shutdown(self) -> None:
        self.supervisor.stop()

    def close(self) -> None:
        self.supervisor.close()
