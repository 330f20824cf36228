"""The Debian package end to end, on a copy of this machine (tests/debian_package.py).

docs/DEBIAN.md's commands run in order (the README's are among them), as root
on the machine, with free loopback ports for its 8090 and 8091; ``make deb``
and ``apt-get install`` run there without a network. Between them the test
checks from outside what each did: the installed service answers FSI and runs
qBittorrent as its own user from the loopback preset; an upgrade keeps the
passwords, the port, the torrents and whether qBittorrent runs; removal stops
it gracefully; the purge leaves no file, user or process behind. Debian's
supervisord runs throughout with a program of the admin's own, which keeps its
pid. A second test installs where supervisord does not run.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import plugin
from tests.debian_package import CHECKOUT, Machine, build_deb
from tests.debian_supervisor import ADMIN_PROGRAM
from tests.stack import Stack, accepting, free_port, plain_shell_env, wait_for
from tests.torrents import PIECE, WebApi, make_torrent

DEBIAN_MD = CHECKOUT / "docs" / "DEBIAN.md"
README = CHECKOUT / "README.md"
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
PACKAGE = "qbittorrent-fsi"
HOME = "/var/lib/qbittorrent-fsi"
PASSWORD_FILE = HOME + "/initial-admin-password"
CONF_D = "/etc/supervisor/conf.d"
NGINX_SNIPPET = "/etc/nginx/snippets/qbittorrent-fsi.conf"
PROFILE_CONFIG = HOME + "/profile/qBittorrent/config/qBittorrent.conf"
DOWNLOADS = HOME + "/profile/qBittorrent/downloads"
SUPERVISORD_LOG = "/var/log/supervisor/supervisord.log"
ADMIN_PASSWORD = "a-password-of-the-admins"
#: Where the package's own files or its user's could be left: looked for before and after.
LEFTOVERS = ("find /etc /usr /var /run /unas -xdev \\( -name '*qbittorrent-fsi*' -o -nouser "
             "-o -nogroup \\) -print 2>/dev/null || true")


def commands(text: str) -> list[str]:
    """The ```sh blocks' command lines, without their comments."""
    return [re.sub(r"\s+#.*$", "", line) for block in SH_BLOCK.findall(text)
            for line in block.splitlines() if line.strip()]


def readme_commands() -> list[str]:
    section = re.search(r"^## The Debian package\n(.*?)^## ", README.read_text(), re.S | re.M)
    return commands(section.group(1))


class Installed(Stack):
    """FSI calls from outside the machine to the plugin the package installed."""

    def __init__(self, port: int, password: str) -> None:  # nothing of Stack's to start
        self.port = port
        self.url = "http://127.0.0.1:%d/include/index.php" % port
        self.password = password
        self.token = None

    def login(self) -> str:
        answer = self.post({"cmd": "login",
                            "params": {"username": "admin", "password": self.password}})
        assert answer["err"] == 0, answer
        self.token = answer["results"]["token"]
        return self.token


class Journey:
    """The docs' commands in order, on the machine, and what the test reads there."""

    def __init__(self, machine: Machine, ports: dict[str, int]) -> None:
        self.machine = machine
        self.ports = ports
        self.todo = commands(DEBIAN_MD.read_text())
        assert set(readme_commands()) <= set(self.todo)  # the README's run here too

    def next(self, start: str, **kwargs) -> subprocess.CompletedProcess:
        """Run the next command of the docs, which starts with ``start``."""
        line = self.todo.pop(0)
        assert line.startswith(start), (line, start)
        line = line.replace("sudo ", "")
        for documented, port in self.ports.items():
            line = line.replace(documented, str(port))
        if line.startswith(("make deb", "apt-get install")):
            # Neither needs the network: the build is offline, the dependencies are installed.
            line = "unshare --net " + line
        return self.machine.shell(line, cwd=str(CHECKOUT), **kwargs)

    def read(self, path: str) -> str:
        """A file on the machine, its links followed there."""
        return self.machine.run("cat", path).stdout

    def supervisorctl(self, *args: str) -> str:
        return self.machine.run("supervisorctl", *args, check=False).stdout

    def pid(self, program: str) -> int:
        return int(self.machine.run("supervisorctl", "pid", program).stdout)

    def user_ids(self) -> tuple[int, int]:
        entry = self.machine.run("getent", "passwd", PACKAGE).stdout.split(":")
        return int(entry[2]), int(entry[3])

    def version(self) -> str:
        return self.machine.run("dpkg-query", "-W", "-f=${Version}", PACKAGE).stdout

    def graceful_stops(self) -> int:
        """How often supervisord has seen qBittorrent exit by itself after its SIGTERM."""
        return len(re.findall(r"stopped: qbittorrent \(exit status 0\)",
                              self.read(SUPERVISORD_LOG)))

    def contents(self, deb: str) -> list[str]:
        """Every path the package ``deb`` installs, as ``dpkg -L`` will list it."""
        listing = self.machine.shell("dpkg-deb --fsys-tarfile %s | tar -t" % deb).stdout
        return ["/" + name[2:].rstrip("/") for name in listing.split("\n") if name[2:]]

    def leftovers(self) -> set[str]:
        return set(self.machine.shell(LEFTOVERS).stdout.split())


def runs_as(pid: int) -> int:
    status = Path("/proc/%d/status" % pid).read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def changed_program_deb(tmp_path: Path) -> Path:
    """A newer build whose qBittorrent program differs: the upgrade must re-add it."""
    checkout = tmp_path / "changed"
    shutil.copytree(CHECKOUT, checkout, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis"))
    program = checkout / "conf" / "qbittorrent.ini"
    program.write_text(program.read_text().replace("startretries=3", "startretries=4"))
    return build_deb(tmp_path / "dist", "3", checkout)


def check_installed(journey: Journey, output: str, port: int) -> None:
    """What the first installation left on the machine."""
    machine = journey.machine
    assert PASSWORD_FILE in output and "qbittorrent-fsi passwd" in output, output
    assert machine.shell("command -v qbittorrent-fsi").stdout.strip() == "/usr/bin/qbittorrent-fsi"
    uid, gid = journey.user_ids()
    assert uid < 1000 and machine.run("getent", "group", PACKAGE).stdout.split(":")[2] == str(gid)
    home = machine.path(HOME)
    assert (home.stat().st_uid, home.stat().st_mode & 0o7777) == (0, 0o711)
    for entry in home.iterdir():
        assert entry.lstat().st_uid == (uid if entry.name == "profile" else 0), entry
    for entry in (home / "profile").rglob("*"):
        assert entry.lstat().st_uid == uid, entry
    secret = machine.path(PASSWORD_FILE).stat()
    assert (secret.st_uid, secret.st_mode & 0o777) == (0, 0o600)
    snippet = machine.path(CONF_D + "/qbittorrent-fsi.conf").stat()
    assert (snippet.st_uid, snippet.st_mode & 0o777) == (0, 0o600)
    assert "\nuser=qbittorrent-fsi\n" in journey.read(CONF_D + "/qbittorrent.conf")
    assert machine.run("readlink", CONF_D + "/qbittorrent.conf").stdout.strip() == \
        HOME + "/qbittorrent.ini"
    assert json.loads(journey.read("/unas/apps/qbittorrent/app.json"))["appVersion"] == \
        plugin.__version__
    assert "http://127.0.0.1:8086/" in journey.read(NGINX_SNIPPET)
    assert wait_for(lambda: accepting(port), timeout=30)


def test_the_debian_package_from_build_to_purge(tmp_path):
    changed = changed_program_deb(tmp_path)  # before the machine: it sees this machine's files
    ports = {"8090": free_port(), "8091": free_port()}
    machine = Machine()
    try:
        journey = Journey(machine, ports)
        machine.path(CONF_D + "/admin-sleeper.conf").write_text(ADMIN_PROGRAM)
        supervisord = machine.start_supervisord()
        admin = journey.pid("admin-sleeper")
        before = journey.leftovers()

        built = journey.next("make deb").stdout.split()[-1]
        assert built.endswith("dist/qbittorrent-fsi_%s-1_all.deb" % plugin.__version__)
        existed = {path: machine.path(path).exists() for path in journey.contents(built)}
        journey.next("echo FSI_PORT=")
        installed = journey.next("sudo apt-get install").stdout
        port = ports["8090"]
        check_installed(journey, installed, port)
        assert {"/usr/bin/qbittorrent-fsi", HOME, CONF_D + "/qbittorrent-fsi.conf"} <= \
            journey.leftovers() - before
        journey.next("sudo sed -i 's|127.0.0.1:8086/")
        assert "http://127.0.0.1:%d/" % port in journey.read(NGINX_SNIPPET)

        first_password = journey.next("sudo cat").stdout.strip()
        assert Installed(port, first_password).login()
        journey.next("sudo qbittorrent-fsi passwd", input="%s\n%s\n" % ((ADMIN_PASSWORD,) * 2))
        assert not machine.path(PASSWORD_FILE).exists()
        assert Installed(port, first_password).post({"cmd": "login", "params": {
            "username": "admin", "password": first_password}})["err"] != 0
        fsi = Installed(port, ADMIN_PASSWORD)

        # The FSI journey on the installed service.
        assert fsi.call("version")["results"]["plugin"] == plugin.__version__
        assert fsi.call("status")["results"]["state"] == "stopped"
        webui = free_port()
        started = fsi.call("start", port=webui)
        assert started["err"] == 0 and started["results"]["port"] == webui, started
        qbittorrent = started["results"]["pid"]
        assert runs_as(qbittorrent) == journey.user_ids()[0]
        profile = journey.read(PROFILE_CONFIG)
        assert "WebUI\\Address=127.0.0.1" in profile and "Session\\Interface=lo" in profile
        assert fsi.call("set_webui_credentials", username="nas-admin",
                        password="correct horse")["err"] == 0
        assert fsi.call("restart")["err"] == 0
        credentials = fsi.call("webui_credentials")["results"]
        assert credentials["username"] == "nas-admin" and credentials["applied"]
        made = [make_torrent(tmp_path, "file-%d.bin" % index, PIECE * 2) for index in range(2)]
        hashes = {info_hash for _, info_hash in made}
        api = WebApi(webui, credentials)
        api.add([torrent for torrent, _ in made], Path(DOWNLOADS))
        assert wait_for(lambda: api.hashes() == hashes, timeout=15)
        qbittorrent = fsi.call("status")["results"]["pid"]

        # RUNNING once it has run for startsecs (FSI answered when its Web UI listened).
        assert wait_for(lambda: "RUNNING" in journey.supervisorctl("status", "qbittorrent"))
        status = journey.next("sudo supervisorctl status").stdout
        for program in ("qbittorrent-fsi", "qbittorrent-fsi-events", "qbittorrent",
                        "admin-sleeper"):
            assert re.search(r"^%s\s+RUNNING" % program, status, re.M), status

        # Another port, applied with dpkg-reconfigure: only the plugin restarts.
        plugin_pid = journey.pid("qbittorrent-fsi")
        journey.next("sudo sed -i 's/^FSI_PORT=")
        journey.next("sudo sed -i 's|127.0.0.1:8090/")
        journey.next("sudo dpkg-reconfigure")
        port = ports["8091"]
        assert wait_for(lambda: accepting(port), timeout=30) and not accepting(ports["8090"])
        assert "http://127.0.0.1:%d/" % port in journey.read(NGINX_SNIPPET)
        fsi = Installed(port, ADMIN_PASSWORD)
        assert fsi.call("status")["results"]["pid"] == qbittorrent
        assert journey.pid("qbittorrent-fsi") != plugin_pid

        # The upgrade: qBittorrent runs on, the plugin runs the new code.
        plugin_pid = journey.pid("qbittorrent-fsi")
        journey.next("make deb DEB_REVISION=2")
        upgraded = journey.next("sudo dpkg -i").stdout
        assert journey.version() == "%s-2" % plugin.__version__
        assert PASSWORD_FILE not in upgraded  # no new password
        assert wait_for(lambda: accepting(port), timeout=30)
        fsi = Installed(port, ADMIN_PASSWORD)
        results = fsi.call("status")["results"]
        assert (results["state"], results["pid"], results["port"]) == \
            ("running", qbittorrent, webui)
        assert journey.pid("qbittorrent-fsi") != plugin_pid
        assert fsi.call("webui_credentials")["results"] == credentials
        api = WebApi(webui, credentials)
        assert wait_for(lambda: api.hashes() == hashes)
        assert "http://127.0.0.1:%d/" % port in journey.read(NGINX_SNIPPET)  # the admin's edit

        # A stopped qBittorrent stays stopped through an upgrade (here the same build again).
        assert fsi.call("stop")["results"]["state"] == "stopped"
        machine.run("dpkg", "-i", "%s/dist/qbittorrent-fsi_%s-2_all.deb"
                    % (CHECKOUT, plugin.__version__))
        assert wait_for(lambda: accepting(port), timeout=30)
        fsi = Installed(port, ADMIN_PASSWORD)
        results = fsi.call("status")["results"]
        assert (results["state"], results["autostart"]) == ("stopped", False)
        assert fsi.ok("start")["port"] == webui

        # A newer qBittorrent program: supervisord re-adds it (a graceful stop), and the
        # plugin starts it again because it ran.
        qbittorrent = fsi.call("status")["results"]["pid"]
        stops = journey.graceful_stops()
        machine.run("dpkg", "-i", str(changed))
        assert journey.graceful_stops() == stops + 1
        assert journey.version() == "%s-3" % plugin.__version__
        assert "\nstartretries=4\n" in journey.read(CONF_D + "/qbittorrent.conf")
        assert wait_for(lambda: accepting(webui), timeout=60)
        fsi = Installed(port, ADMIN_PASSWORD)
        results = fsi.call("status")["results"]
        assert results["state"] == "running" and results["pid"] != qbittorrent, results
        api = WebApi(webui, credentials)
        assert wait_for(lambda: api.hashes() == hashes)

        journey.next("sudo dpkg -r")
        assert journey.graceful_stops() == stops + 2
        backup = machine.path(HOME + "/profile/qBittorrent/data/BT_backup")
        for info_hash in hashes:
            assert (backup / ("%s.fastresume" % info_hash)).stat().st_size > 0
        assert sorted(path.name for path in machine.path(CONF_D).iterdir()) == \
            ["admin-sleeper.conf"]
        assert re.findall(r"^(\S+)\s", journey.supervisorctl("status"), re.M) == \
            ["admin-sleeper"]
        assert machine.processes().keys() == {supervisord.pid, admin}
        assert not accepting(port) and not accepting(webui)
        assert machine.path(HOME + "/auth.json").exists() and journey.user_ids()
        assert not machine.path("/usr/lib/qbittorrent-fsi").exists()
        assert not machine.path("/usr/bin/qbittorrent-fsi").exists()

        journey.next("sudo dpkg -P")
        assert journey.todo == []
        assert {path: machine.path(path).exists() for path in existed} == existed
        for path in (HOME, "/var/log/qbittorrent-fsi", "/etc/default/qbittorrent-fsi"):
            assert not machine.path(path).exists(), path
        assert machine.run("getent", "passwd", PACKAGE, check=False).returncode == 2
        assert machine.run("getent", "group", PACKAGE, check=False).returncode == 2
        assert journey.leftovers() == before
        assert machine.processes().keys() == {supervisord.pid, admin}
        assert journey.pid("admin-sleeper") == admin
    finally:
        machine.close()



#: A policy-rc.d that writes down what invoke-rc.d asks and answers with an exit status.
POLICY = "#!/bin/sh\necho \"$*\" >>/run/policy-rc.d.log\nexit %d\n"


def test_where_supervisord_does_not_run_the_package_starts_its_service_and_removes_without_it(
        tmp_path):
    deb = build_deb(tmp_path)
    port = free_port()
    machine = Machine()
    try:
        # A setting the package makes its own is ignored, and so is the caller's environment.
        machine.path("/etc/default/qbittorrent-fsi").write_text(
            "FSI_PORT=%d\nFSI_HOME=/srv/elsewhere\n" % port)
        policy = machine.path("/usr/sbin/policy-rc.d")
        policy.write_text(POLICY % 101)  # services may not start, as in a container
        done = machine.run("dpkg", "-i", str(deb),
                           env=plain_shell_env(HOME="/root", FSI_PORT=str(free_port())))
        installed = done.stdout
        assert "sets FSI_HOME, which the package sets itself: ignored" in done.stderr
        assert not machine.path("/srv/elsewhere").exists()
        assert 'FSI_PORT="%d"' % port in machine.path(CONF_D + "/qbittorrent-fsi.conf").read_text()
        assert "starting the supervisor service" in installed
        assert "the plugin starts with it" in installed
        assert "supervisor" in machine.path("/run/policy-rc.d.log").read_text()
        assert machine.processes() == {}
        password = machine.path(PASSWORD_FILE).read_text().strip()

        policy.write_text(POLICY % 0)  # they may: invoke-rc.d runs the init script (no systemd)
        configured = machine.run("dpkg-reconfigure", PACKAGE).stdout
        assert PASSWORD_FILE not in configured
        assert wait_for(lambda: accepting(port), timeout=30)
        assert Installed(port, password).call("status")["results"]["state"] == "stopped"
        supervisord = int(machine.path("/run/supervisord.pid").read_text())
        assert "supervisord" in machine.processes()[supervisord]

        machine.run("kill", str(supervisord))
        assert wait_for(lambda: machine.processes() == {}, timeout=60)
        removed = machine.run("dpkg", "-r", PACKAGE).stdout
        assert "removed %s/qbittorrent-fsi.conf" % CONF_D in removed
        assert list(machine.path(CONF_D).iterdir()) == []
        machine.run("dpkg", "-P", PACKAGE)
        assert not machine.path(HOME).exists()
        assert machine.run("getent", "passwd", PACKAGE, check=False).returncode == 2
        assert machine.processes() == {}
    finally:
        machine.close()
