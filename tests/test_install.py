"""The plugin installed like real software: from its wheel, with no checkout in sight.

The README's "Install with pip or pipx" commands run as written, with their
paths moved into temp dirs, in a copy of the checkout (so that the build
leaves nothing here): Debian's pip builds the wheel, pip (in a venv) and
Debian's pipx install it with its runtime dependencies from the package
index. Each install then runs the stack and ``install-conf`` from a temp
directory, with no PYTHONPATH, the way the README says.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import plugin
from plugin.probes import command_line, listening
from plugin.qbt_profile import profile_config
from tests.stack import Stack, free_port, plain_shell_env, wait_for

CHECKOUT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## Install with pip or pipx\n(.*?)^## ", re.S | re.M)
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
#: The README's paths.
DOCS_VENV = "/opt/qbittorrent-fsi"
DOCS_PIPX_BIN = "~/.local/bin"
DOCS_HOME = "/srv/qbittorrent-fsi"
DOCS_CONF_D = "/etc/supervisor/conf.d"
#: The pins, as pyproject.toml declares them.
PROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
#: What `python3 -m venv` puts in every venv.
SEED_PACKAGES = {"pip", "setuptools"}


def readme_blocks() -> list[str]:
    """The section's ```sh blocks: install, run, remove."""
    section = SECTION.search((CHECKOUT / "README.md").read_text())
    assert section, "README.md has no 'Install with pip or pipx' section"
    blocks = BLOCK.findall(section.group(1))
    assert len(blocks) == 3, blocks
    return blocks


def shell_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip()]


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """A doc's command line: its leading ``NAME=value`` words and the command."""
    words = shlex.split(line, comments=True)
    assignments: dict[str, str] = {}
    while words and re.match(r"[A-Z_]+=", words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    return assignments, words


@dataclass
class Installs:
    """Where the README's commands put things, moved into one temp dir."""

    root: Path
    source: Path
    env: dict[str, str]

    @property
    def venv(self) -> Path:
        return self.root / "opt-venv"

    @property
    def pipx_bin(self) -> Path:
        return Path(self.env["PIPX_BIN_DIR"])

    @property
    def pipx_home(self) -> Path:
        return Path(self.env["PIPX_HOME"])

    @property
    def elsewhere(self) -> Path:
        """The working directory of every run: neither the checkout nor its copy."""
        return self.root / "elsewhere"

    def moved(self, text: str, kind: str = "pip") -> str:
        """The README's text with its paths moved here (``kind`` picks the command)."""
        if kind == "pipx":
            text = text.replace(DOCS_VENV + "/bin", DOCS_PIPX_BIN)
        return text.replace(DOCS_VENV, str(self.venv)).replace(DOCS_PIPX_BIN,
                                                                str(self.pipx_bin))

    def command(self, kind: str) -> Path:
        return self.venv / "bin" / "qbittorrent-fsi" if kind == "pip" else \
            self.pipx_bin / "qbittorrent-fsi"

    def python(self, kind: str) -> Path:
        """The interpreter the command runs with: its own venv's (the script's shebang)."""
        shebang = self.command(kind).resolve().read_text().split("\n", 1)[0]
        return Path(shebang[2:])

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env={**self.env, **env}, cwd=self.elsewhere,
                              capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installs(tmp_path_factory) -> Installs:
    root = tmp_path_factory.mktemp("install")
    source = root / "checkout"
    shutil.copytree(CHECKOUT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis"))
    installs = Installs(root, source, plain_shell_env(PIPX_HOME=str(root / "pipx-home"),
                                                      PIPX_BIN_DIR=str(root / "pipx-bin")))
    installs.elsewhere.mkdir()
    install = subprocess.run(["bash", "-euxc", installs.moved(readme_blocks()[0])], cwd=source,
                             env=installs.env, capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    return installs


def wheel_contents(wheel: Path) -> tuple[set[str], str, list[str]]:
    """The wheel's files under ``plugin/``, its version and its requirements."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = "qbittorrent_fsi-%s.dist-info/" % plugin.__version__
        metadata = archive.read(info + "METADATA").decode()
    assert all(name.startswith(("plugin/", info)) for name in names), names
    version = re.search(r"^Version: (.*)$", metadata, re.M).group(1)
    # Spelled without spaces, brackets or quotes, which differ between setuptools versions.
    requires = sorted(re.sub(r"[\s()'\"]", "", requirement)
                      for requirement in re.findall(r"^Requires-Dist: (.*)$", metadata, re.M))
    return {name for name in names if name.startswith("plugin/")}, version, requires


def the_wheel(directory: Path) -> Path:
    wheels = list(directory.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_readme_builds_with_debian_pip(installs):
    pip = installs.run(["python3", "-m", "pip", "--version"])
    assert "/usr/lib/python3/dist-packages/pip" in pip.stdout, pip.stdout + pip.stderr


def test_the_wheel_holds_the_plugin_its_templates_and_page_and_no_test_code(installs):
    files, version, requires = wheel_contents(the_wheel(installs.source / "dist"))
    package = CHECKOUT / "plugin"
    expected = {"plugin/" + (Path(top) / name).relative_to(package).as_posix()
                for top, _, names in os.walk(package, followlinks=True)  # plugin/conf is a link
                if not top.endswith("__pycache__") for name in names}
    assert {"plugin/conf/supervisord.conf", "plugin/conf/qbittorrent.ini",
            "plugin/conf/qBittorrent-loopback.conf", "plugin/conf/qBittorrent-lan.conf",
            "plugin/static/index.html"} <= expected
    assert files == expected
    assert version == plugin.__version__
    assert requires == sorted([*PROJECT["dependencies"], *(
        pin + ";extra==test" for pin in PROJECT["optional-dependencies"]["test"])])


@pytest.mark.parametrize("build", [
    [sys.executable, "-m", "pip", "wheel"],
    # As a Debian package builds it, offline: Debian's pip and setuptools.
    ["/usr/bin/python3", "-m", "pip", "wheel", "--no-build-isolation"],
], ids=["test-venv-pip", "debian-pip-offline"])
def test_other_builds_make_the_same_wheel(installs, build, tmp_path):
    done = subprocess.run([*build, "--no-deps", "-w", str(tmp_path), "."], cwd=installs.source,
                          env=installs.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert wheel_contents(the_wheel(tmp_path)) == \
        wheel_contents(the_wheel(installs.source / "dist"))


@pytest.mark.parametrize("kind", ["pip", "pipx"])
def test_each_install_pulls_the_runtime_dependencies_only(installs, kind):
    # The venv's own site-packages (pipx adds its shared pip to the path besides).
    listing = installs.run([str(installs.python(kind)), "-c",
                            "import importlib.metadata as m, json, sysconfig; print(json.dumps("
                            "{d.metadata['Name'].lower(): d.version for d in m.distributions("
                            "path=[sysconfig.get_paths()['purelib']])}))"])
    installed = json.loads(listing.stdout)
    pins = dict(pin.lower().split("==") for pin in PROJECT["dependencies"])
    assert {name: version for name, version in installed.items()
            if name not in SEED_PACKAGES} == {**pins, "qbittorrent-fsi": plugin.__version__}


@pytest.mark.parametrize("kind", ["pip", "pipx"])
def test_each_install_runs_the_stack_from_anywhere(installs, kind):
    assignments, argv = split_command(installs.moved(shell_lines(readme_blocks()[1])[0], kind))
    assert argv[1:] == ["run"] and set(assignments) == {"FSI_HOME"}
    python = installs.python(kind)
    found = installs.run([str(python), "-c", "import plugin; print(plugin.__file__)"])
    assert Path(found.stdout.strip()).is_relative_to(python.parent.parent), found
    stack = Stack(command=argv[:1], cwd=installs.elsewhere, environ=installs.env).start()
    try:
        assert str(python.parent / "supervisord").encode() in \
            command_line(stack.process.pid).split()

        def running() -> re.Match | None:
            return re.search(r"RUNNING +pid (\d+)", stack.ctl("status", "qbittorrent-fsi"))

        assert wait_for(running, timeout=10)  # RUNNING after its startsecs
        server = int(running().group(1))
        assert listening(stack.port, server)
        assert command_line(server).split()[:3] == [str(python).encode(), b"-m", b"plugin.serve"]
        assert os.readlink("/proc/%d/cwd" % server) == str(installs.elsewhere)

        port = free_port()
        started = stack.call("start", port=port)
        assert started["err"] == 0 and started["results"]["port"] == port, started
        status = stack.call("status")["results"]
        assert status["running"] is True and status["port"] == port, status
        assert stack.call("stop")["results"]["state"] == "stopped"
        # Seeded by the plugin from the loopback preset it ships.
        assert "Session\\InterfaceAddress=127.0.0.1" in \
            profile_config(stack.home / "profile").read_text()
    finally:
        stack.close()


@pytest.mark.parametrize("kind", ["pip", "pipx"])
def test_each_install_writes_snippets_for_a_supervisord(installs, kind, tmp_path):
    line = installs.moved(shell_lines(readme_blocks()[1])[1], kind)
    home, conf_d, logs = tmp_path / "home", tmp_path / "conf.d", tmp_path / "log"
    line = line.replace(DOCS_HOME, str(home)).replace(DOCS_CONF_D, str(conf_d))
    # The logs' default, /var/log/qbittorrent-fsi, moved here too.
    done = installs.run(["bash", "-euc", line], FSI_PASSWORD="install-password",
                        FSI_LOG_DIR=str(logs))
    assert done.returncode == 0, done.stdout + done.stderr
    snippet = (conf_d / "qbittorrent-fsi.conf").read_text()
    assert "command=%s -m plugin.serve" % installs.python(kind) in snippet
    assert "ENV_" not in snippet and "stderr_logfile=%s/" % logs in snippet
    assert (conf_d / "qbittorrent.conf").resolve() == home / "qbittorrent.ini"
    assert "--profile=%s" % (home / "profile") in (home / "qbittorrent.ini").read_text()
    assert "Session\\InterfaceAddress=127.0.0.1" in profile_config(home / "profile").read_text()


def test_the_readme_removes_both_installs(installs):
    # Last in this file: the installs are gone afterwards.
    done = subprocess.run(["bash", "-euxc", installs.moved(readme_blocks()[2])],
                          env=installs.env, cwd=installs.elsewhere, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not installs.venv.exists()
    assert not installs.command("pipx").exists()
    assert not (installs.pipx_home / "venvs" / "qbittorrent-fsi").exists()
