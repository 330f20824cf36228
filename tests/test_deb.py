"""The Debian package as built: its files, its fields, what Debian 12's lintian says.

tests/test_e2e_deb.py installs, upgrades and removes it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import plugin
from tests.debian_package import CHECKOUT, build_deb

DEBIAN_MD = CHECKOUT / "docs" / "DEBIAN.md"
LIB = "usr/lib/qbittorrent-fsi/"


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    return build_deb(tmp_path_factory.mktemp("deb"))


def contents(deb: Path) -> dict[str, str]:
    """The package's paths (without the leading ./) and their modes."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    return {line.split()[-1][2:]: line.split()[0] for line in listing.splitlines()
            if line.split()[-1] != "./"}


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_name_and_version_are_the_plugins_with_a_debian_revision(deb, tmp_path):
    assert deb.name == "qbittorrent-fsi_%s-1_all.deb" % plugin.__version__
    assert field(deb, "Version") == "%s-1" % plugin.__version__
    newer = build_deb(tmp_path, "2")
    assert field(newer, "Version") == "%s-2" % plugin.__version__
    refused = subprocess.run(["/usr/bin/python3", str(CHECKOUT / "deb" / "build.py"),
                              "--revision", "2 beta", "--dist", str(tmp_path)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "revision" in refused.stderr


def test_the_same_checkout_builds_the_same_bytes(deb, tmp_path):
    assert build_deb(tmp_path).read_bytes() == deb.read_bytes()


def test_it_depends_on_debians_own_packages_and_bundles_none(deb):
    depends = [re.sub(r"\s*\(.*\)", "", name) for name in field(deb, "Depends").split(", ")]
    assert depends == ["python3", "python3-bottle", "python3-waitress", "supervisor",
                       "qbittorrent-nox", "adduser"]
    assert field(deb, "Architecture") == "all"
    paths = contents(deb)
    assert not [path for path in paths if "python3/" in path or "site-packages" in path
                or "dist-packages" in path or path.endswith((".pyc", ".whl"))]


def test_the_plugin_is_whole_in_its_private_directory(deb):
    package = CHECKOUT / "plugin"
    expected = {LIB + "plugin/" + (Path(top) / name).relative_to(package).as_posix()
                for top, _, names in os.walk(package, followlinks=True)  # plugin/conf is a link
                if not top.endswith("__pycache__") for name in names}
    paths = contents(deb)
    assert {path for path in paths if path.startswith(LIB + "plugin/")
            and not paths[path].startswith("d")} == expected
    assert paths["usr/bin/qbittorrent-fsi"] == paths[LIB + "python3"] == "-rwxr-xr-x"


def test_every_file_is_roots_and_nobody_elses_to_write(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for line in listing.splitlines():
        mode, owner = line.split()[:2]
        assert owner == "root/root" and mode[5] == "-" and mode[8] == "-", line


def test_the_man_page_names_every_command():
    usage = subprocess.run([sys.executable, "-m", "plugin", "--help"], capture_output=True,
                           text=True, cwd=CHECKOUT, check=True).stdout
    commands = re.search(r"\{([a-z,-]+)\}", usage).group(1).split(",")
    page = (CHECKOUT / "deb" / "qbittorrent-fsi.1").read_text().replace("\\-", "-")
    assert sorted(re.findall(r"^\.TP\n\.B ([a-z-]+)", page, re.M)) == sorted(commands)


def lintian(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("lintian") is None:
        raise RuntimeError("this test needs Debian's lintian (apt-get install -y lintian)")
    return subprocess.run(["lintian", "--pedantic", "-I", *args], capture_output=True,
                          text=True, timeout=300)


def test_lintian_reports_nothing_and_overrides_what_the_docs_list(deb):
    clean = lintian(str(deb))
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stdout + clean.stderr
    shown = lintian("--show-overrides", str(deb)).stdout  # exits 2: one of them is an error
    overridden = set(re.findall(r"^O: qbittorrent-fsi: (\S+)", shown, re.M))
    table = DEBIAN_MD.read_text().split("## lintian", 1)[1]
    assert overridden == set(re.findall(r"^\| `([a-z0-9-]+)", table, re.M))
