"""A real qbittorrent-fsi stack for end-to-end tests.

Starts ``qbittorrent-fsi run`` (which execs a real supervisord with the
project's own conf files) in a fresh runtime directory, with the plugin and
qBittorrent on free loopback ports, and talks to it from outside over HTTP.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any


from plugin.probes import listening

if TYPE_CHECKING:  # the end-to-end tests' client, not in Debian's Python stack
    import qbittorrentapi

PASSWORD = "e2e-password"
#: A root shell's PATH on Debian: ``python3`` is /usr/bin/python3, with Debian's packages.
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def plain_shell_env(**extra: str) -> dict[str, str]:
    """This environment as a Debian shell without the project has it, plus ``extra``.

    No ``FSI_*`` settings, no Python or pipx variables (PYTHONPATH, an active
    venv), no make variables (``make test`` runs the tests) and Debian's
    PATH, so that ``python3`` and ``pipx`` are Debian's.
    """
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("FSI_", "PIPX_", "PYTHON", "VIRTUAL_ENV", "MAKE", "MFLAGS"))}
    return {**env, "PATH": DEBIAN_PATH, **extra}


_handed_out: set[int] = set()
#: Where free_port looks by default: below the kernel's ephemeral range, whose
#: ports any connect() on the machine may take as its source at any moment.
_QUIET_PORTS = range(20000, 32768)


def ephemeral_range() -> range:
    """The ports the kernel hands out as sources of outgoing connections."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


def free_port(ephemeral: bool = False) -> int:
    """A loopback port nobody holds, and not one this test run handed out before.

    By default outside the ephemeral range, so that no outgoing connection of
    another process takes it between this check and the listen; ``ephemeral``
    picks one inside it (the kernel's own choice).
    """
    quiet = [port for port in _QUIET_PORTS if port not in ephemeral_range()]
    for _ in range(100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", 0 if ephemeral or not quiet else random.choice(quiet)))
            except OSError:  # held, even by a TIME-WAIT
                continue
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh loopback port after 100 tries")


def accepting(port: int) -> bool:
    """Whether anything listens on the loopback port (read from /proc: no probe connection)."""
    return listening(port)


def terminate(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM a process of the test's own and reap it; SIGKILL if it takes too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill_processes_of(home: Path) -> None:
    """SIGKILL every process that runs from ``home``: with ``FSI_HOME=<home>`` in its
    environment, or ``home`` in its command line (qBittorrent's ``--profile``).

    supervisord puts its children in process groups of their own, so they
    are found by what they carry instead; ``home`` is a fresh temp directory.
    """
    marker = ("FSI_HOME=%s" % home).encode()
    path = str(home).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") or \
                    path in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


def wait_for(check, timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def webui_client(port: int, credentials: dict) -> "qbittorrentapi.Client":
    """A real qBittorrent Web API client (qbittorrent-api) on 127.0.0.1:``port``."""
    import qbittorrentapi

    return qbittorrentapi.Client(host="127.0.0.1", port=port, username=credentials["username"],
                                 password=credentials["password"],
                                 REQUESTS_ARGS={"timeout": 10}, VERIFY_WEBUI_CERTIFICATE=False)


class Stack:
    def __init__(self, extra_env: dict[str, str] | None = None,
                 wrapper: list[str] | None = None, command: list[str] | None = None,
                 cwd: Path | None = None, environ: dict[str, str] | None = None) -> None:
        missing = [b for b in ("qbittorrent-nox",) if shutil.which(b) is None]
        if missing:
            raise RuntimeError("end-to-end tests need %s on PATH (apt-get install -y "
                               "qbittorrent-nox); they never skip" % ", ".join(missing))
        # Short path: unix socket paths are limited to 107 bytes.
        self.home = Path(tempfile.mkdtemp(prefix="fsi-e2e-"))
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/include/index.php" % self.port
        self.env = {k: v for k, v in (environ or os.environ).items() if not k.startswith("FSI_")}
        self.env.update(FSI_HOME=str(self.home), FSI_PORT=str(self.port),
                        FSI_HOST="127.0.0.1", FSI_PASSWORD=PASSWORD)
        self.env.update(extra_env or {})
        self.token: str | None = None
        self.process: subprocess.Popen | None = None
        # A command prefix for `qbittorrent-fsi run`, e.g. unshare for a private mount namespace.
        self.wrapper = wrapper or []
        # The `qbittorrent-fsi` command (default: this checkout's) and where it runs.
        self.command = command or [sys.executable, "-m", "plugin"]
        self.cwd = cwd

    @property
    def program_conf(self) -> Path:
        return self.home / "qbittorrent.ini"

    def configured_port(self) -> int | None:
        """The Web UI port the live program config names."""
        from plugin.program_config import ProgramConfig

        return ProgramConfig(self.program_conf, self.settings.program).port()

    @property
    def settings(self):
        """The plugin's settings for this stack, for a plugin run inside the test process."""
        from plugin.settings import Settings

        return Settings.from_env(self.env)

    def start(self) -> "Stack":
        self.output = open(self.home / "run.out", "ab")
        self.token = None  # sessions live in the plugin process
        self.process = subprocess.Popen([*self.wrapper, *self.command, "run"], env=self.env,
                                        cwd=self.cwd, stdout=self.output,
                                        stderr=subprocess.STDOUT)
        try:
            if not wait_for(lambda: accepting(self.port) or self.process.poll() is not None):
                raise RuntimeError("the plugin did not come up: %s" % self.log())
            if self.process.poll() is not None:
                raise RuntimeError("qbittorrent-fsi run exited: %s" % self.log())
        except BaseException:
            self.close()
            raise
        return self

    def log(self) -> str:
        return (self.home / "run.out").read_text(errors="replace")[-3000:]

    def shutdown(self) -> None:
        """Stop supervisord (and so qBittorrent and the plugin), keeping the runtime directory."""
        if self.process:
            terminate(self.process)
        self.output.close()

    def close(self) -> None:
        self.shutdown()
        self._kill_leftovers()
        shutil.rmtree(self.home, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """SIGKILL whatever still runs from this stack's home (after a killed supervisord)."""
        kill_processes_of(self.home)

    # -- talking to the plugin --------------------------------------------

    def post_raw(self, body: bytes, content_type: str = "application/json",
                 timeout: float = 30.0, headers: dict[str, str] | None = None
                 ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": content_type,
                                                  **(headers or {})})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()

    def post(self, payload: Any, timeout: float = 30.0) -> dict[str, Any]:
        status, headers, body = self.post_raw(json.dumps(payload).encode(), timeout=timeout)
        assert status == 200
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        return json.loads(body)

    def login(self) -> str:
        answer = self.post({"cmd": "login",
                            "params": {"username": "admin", "password": PASSWORD}})
        assert answer["err"] == 0, answer
        self.token = answer["results"]["token"]
        return self.token

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        if self.token is None:
            self.login()
        return self.post({"cmd": cmd, "token": self.token, "params": params})

    def ok(self, cmd: str, **params: Any) -> dict[str, Any]:
        """The ``results`` of a command that must succeed; a failure shows the whole answer."""
        answer = self.call(cmd, **params)
        assert answer["err"] == 0, answer
        return answer["results"]

    def ctl(self, *args: str) -> str:
        result = subprocess.run([*self.command, "ctl", *args], env=self.env, cwd=self.cwd,
                                capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr
