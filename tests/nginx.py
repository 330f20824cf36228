"""Debian's nginx as a process of the test: one server on a free loopback port.

The test writes the main config; its server block holds what the caller
gives (the include of an installed snippet, relative to the config's
directory as on a real install) and serves the directory ``root`` for the
other paths. Logs, temp files, the lock and the pid are in a temp dir, the
master is stopped by its pid: a system nginx is never touched.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.stack import accepting, free_port, wait_for

NGINX = "/usr/sbin/nginx"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
MAIN_CONF = """\
worker_processes 1;
error_log {home}/error.log;
lock_file {home}/nginx.lock;
events {{ worker_connections 64; }}
http {{
    access_log {home}/access.log;
{temp_paths}
    types {{
        text/html html;
        text/javascript js;
        application/json json;
        image/png png;
        image/svg+xml svg;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
{server}
    }}
}}
"""


class Nginx:
    def __init__(self, server: str) -> None:
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError("these tests need Debian's nginx (apt-get install -y nginx-light)")
        # Readable by the unprivileged workers a root master starts, as on a NAS.
        self.home = Path(tempfile.mkdtemp(prefix="fsi-nginx-"))
        self.home.chmod(0o755)
        self.root = self.home / "root"
        self.root.mkdir()
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        temp_paths = "\n".join("    %s_temp_path %s/%s;" % (name, self.home, name)
                               for name in TEMP_PATHS)
        (self.home / "nginx.conf").write_text(MAIN_CONF.format(
            home=self.home, port=self.port, root=self.root, temp_paths=temp_paths, server=server))
        self.process: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [NGINX, "-p", str(self.home), "-c", str(self.home / "nginx.conf"), *args]

    def start(self) -> "Nginx":
        checked = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            self.close()
            raise RuntimeError("nginx -t refused the config: %s" % checked.stderr)
        with open(self.home / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                self.command("-g", "daemon off; pid %s/nginx.pid;" % self.home),
                stdout=subprocess.DEVNULL, stderr=stderr)
        if not wait_for(lambda: accepting(self.port) or self.process.poll() is not None) \
                or self.process.poll() is not None:
            log = self.log()
            self.close()
            raise RuntimeError("nginx did not come up: %s" % log)
        return self

    def log(self) -> str:
        """The end of nginx's error log and stderr."""
        return "".join(path.read_text(errors="replace")[-3000:]
                       for path in (self.home / "stderr.log", self.home / "error.log")
                       if path.exists())

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its workers
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                workers = self._workers()
                self.process.kill()
                self.process.wait()
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)

    def _workers(self) -> list[int]:
        """The master's children, which a killed master would leave running."""
        children = []
        for entry in Path("/proc").iterdir():
            try:
                status = (entry / "status").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            if "\nPPid:\t%d\n" % self.process.pid in status:
                children.append(int(entry.name))
        return children


REPO = Path(__file__).resolve().parent.parent
#: The U-NAS app's directory in the repository.
APP_DIR = REPO / "unas" / "qbittorrent"


def install_environment(unas_dir: Path, snippets: Path) -> dict[str, str]:
    """The environment that sends ``make install-unas`` to these directories."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FSI_")}
    env.update(UNAS_DIR=str(unas_dir), NGINX_SNIPPETS=str(snippets))
    return env


def install_unas(nginx: Nginx, fsi_port: int) -> None:
    """``make install-unas`` for this nginx: the snippet in ``snippets/`` beside its config."""
    env = install_environment(nginx.home / "unas", nginx.home / "snippets")
    subprocess.run(["make", "-s", "install-unas", "FSI_PORT=%d" % fsi_port], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=60)
