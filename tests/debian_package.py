"""A copy of this machine to install the Debian package on, and the package built for it.

``Machine`` is a private mount namespace whose ``/`` is an overlay of this
machine's root with its upper layer on a tmpfs: dpkg, adduser, supervisord
and qBittorrent run in it (chrooted to the overlay) and write only there, and
the namespace and its tmpfs go with its last process. The network is shared:
the plugin listens on a loopback port of the test's choice.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.stack import plain_shell_env, wait_for

CHECKOUT = Path(__file__).resolve().parent.parent
SUPERVISORD_CONF = "/etc/supervisor/supervisord.conf"


def build_deb(dist: Path, revision: str = "1", checkout: Path = CHECKOUT) -> Path:
    """What ``make deb`` builds, of ``checkout`` into ``dist``: the package's path."""
    done = subprocess.run(["/usr/bin/python3", str(checkout / "deb" / "build.py"),
                           "--revision", revision, "--dist", str(dist)],
                          env=plain_shell_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


class Machine:
    """This machine's files seen through an overlay, in a mount namespace of their own."""

    def __init__(self) -> None:
        for tool in ("unshare", "nsenter", "chroot", "dpkg"):
            if shutil.which(tool) is None:
                raise RuntimeError("the Debian package tests need %s; they never skip" % tool)
        self.temp = Path(tempfile.mkdtemp(prefix="fsi-machine-"))
        self.root = self.temp / "root"  # the overlay's mount point, inside the namespace
        layer = self.temp / "layer"
        self.root.mkdir()
        layer.mkdir()
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                        "sleep", "infinity"])
        own = os.readlink("/proc/self/ns/mnt")
        try:
            if not wait_for(lambda: self._namespace() not in (None, own), timeout=10):
                raise RuntimeError("unshare did not make a mount namespace")
            self.namespace = self._namespace()
            self._enter("sh", "-ec", """
                mount -t tmpfs -o mode=0700 fsi-layer {layer}
                mkdir {layer}/upper {layer}/work
                mount -t overlay -o lowerdir=/,upperdir={layer}/upper,workdir={layer}/work \\
                    fsi-root {root}
                mount --rbind /dev {root}/dev
                mount --rbind /proc {root}/proc
                mount --rbind /sys {root}/sys
                mount -t tmpfs -o mode=0755 fsi-run {root}/run
            """.format(layer=layer, root=self.root))
        except BaseException:
            self.close()
            raise

    def _namespace(self) -> str | None:
        try:
            return os.readlink("/proc/%d/ns/mnt" % self.holder.pid)
        except OSError:
            return None

    def _enter(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        done = subprocess.run(["nsenter", "--target", str(self.holder.pid), "--mount", "--",
                               *command], capture_output=True, text=True, timeout=120, **kwargs)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done

    def command(self, *args: str) -> list[str]:
        """``args`` as a command line that runs on the machine, as root in its shell."""
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--",
                "chroot", str(self.root), *args]

    def run(self, *args: str, timeout: float = 900, check: bool = True,
            **kwargs) -> subprocess.CompletedProcess:
        """Run ``args`` on the machine with a root shell's environment; its output as text."""
        kwargs.setdefault("env", plain_shell_env(HOME="/root"))
        done = subprocess.run(self.command(*args), capture_output=True, text=True,
                              timeout=timeout, **kwargs)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def shell(self, script: str, cwd: str = "/", **kwargs) -> subprocess.CompletedProcess:
        """A script for the machine's bash, stopping at the first failure."""
        return self.run("bash", "-euc", "cd %s\n%s" % (cwd, script), **kwargs)

    def path(self, inside: str) -> Path:
        """Where the test process reads and writes the machine's file ``inside``."""
        return Path("/proc/%d/root" % self.holder.pid) / self.root.relative_to("/") / \
            inside.lstrip("/")

    def processes(self) -> dict[int, str]:
        """Every process on the machine but the one holding its namespace: pid -> command."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.holder.pid:
                continue
            try:
                if os.readlink(entry / "ns/mnt") == self.namespace:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes() \
                        .replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                pass  # gone meanwhile
        return found

    def start_supervisord(self) -> subprocess.Popen:
        """Debian's supervisord as its service runs it, as a process of the test."""
        log = open(self.temp / "supervisord.out", "ab")
        process = subprocess.Popen(self.command("/usr/bin/supervisord", "-n", "-c",
                                                SUPERVISORD_CONF),
                                   env=plain_shell_env(HOME="/root"), stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        if not wait_for(lambda: self.run("supervisorctl", "pid", check=False).returncode == 0
                        or process.poll() is not None, timeout=30) or process.poll() is not None:
            raise RuntimeError("supervisord did not come up: %s"
                               % (self.temp / "supervisord.out").read_text(errors="replace"))
        return process

    def close(self) -> None:
        """End every process on the machine (by pid) and then the namespace with its files."""
        if self._namespace() is not None and hasattr(self, "namespace"):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in self.processes():
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                wait_for(lambda: not self.processes(), timeout=30)
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.temp, ignore_errors=True)

