"""The U-NAS app's files (unas/qbittorrent/), the nginx snippet, and the install commands
of README.md and docs/UNAS.md, run into a temp dir.

tests/test_e2e_nginx.py serves all of it through a real nginx.
"""
from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import pytest

import plugin
from plugin.errors import Err
from tests.local_server import fsi
from tests.nginx import APP_DIR, REPO, install_environment

SNIPPET = REPO / "conf" / "nginx-qbittorrent-fsi.conf"
APP_FIELDS = {"appName", "appVersion", "appJS", "appIcon", "appDeveloper", "appSection",
              "appPackageName", "appDescription", "appTranslationFile", "appRemovable"}
APP_FILES = sorted(str(path.relative_to(APP_DIR)) for path in APP_DIR.rglob("*")
                   if path.is_file())


def app_json() -> dict:
    return json.loads((APP_DIR / "app.json").read_text())


def test_app_json_names_the_app_its_files_and_the_plugins_version():
    app = app_json()
    assert set(app) == APP_FIELDS
    assert app["appVersion"] == plugin.__version__
    assert app["appName"] == APP_DIR.name
    for field in ("appJS", "appIcon", "appTranslationFile"):
        assert (APP_DIR / app[field]).is_file(), field
    translations = json.loads((APP_DIR / app["appTranslationFile"]).read_text())
    assert app["appDescription"] == translations["en"]["description"]
    assert app["appRemovable"] is True


def test_translations_say_the_same_things_in_english_and_chinese():
    translations = json.loads((APP_DIR / "translation.json").read_text())
    assert set(translations) == {"en", "zh-CN"}
    assert set(translations["en"]) == set(translations["zh-CN"]) == {"title", "description"}
    assert re.search(r"[\u4e00-\u9fff]", translations["zh-CN"]["description"])


def test_the_icon_is_a_128_pixel_png():
    data = (APP_DIR / app_json()["appIcon"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (128, 128)


@pytest.mark.parametrize("name", APP_FILES)
def test_no_file_of_the_app_is_a_path_of_the_plugin(server, name: str):
    # Both share /apps/qbittorrent/ behind the NAS web server: a desktop file
    # the plugin also answered would hide one of them.
    answer = fsi(server.request("GET", path="/" + name))
    assert answer["err"] == Err.NOT_EXISTS


def test_the_snippet_serves_exactly_the_app_files_from_the_app_directory():
    served = re.compile(re.search(r"location ~ (\S+) \{\s*root /unas;", SNIPPET.read_text())
                        .group(1))
    for name in APP_FILES:
        assert served.match("/apps/qbittorrent/" + name), name
    for path in ("", "index.html", "page.js", "page.css", "include/index.php", "images/",
                 "app.json/x"):
        assert not served.match("/apps/qbittorrent/" + path), path


def documented_commands() -> list[str]:
    """The ```sh blocks of docs/UNAS.md and of the README's U-NAS section."""
    readme = (REPO / "README.md").read_text()
    section = re.search(r"^## As a U-NAS app\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    blocks = re.findall(r"```sh\n(.*?)```", section + (REPO / "docs" / "UNAS.md").read_text(),
                        re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_documented_install_commands_install_the_app_and_the_snippet(tmp_path: Path):
    commands = documented_commands()
    assert {"sudo make install-unas", "sudo make install-unas FSI_PORT=8090"} <= set(commands)
    assert "include snippets/qbittorrent-fsi.conf;" in (REPO / "README.md").read_text()
    for number, command in enumerate(commands):
        target = tmp_path / str(number)
        env = install_environment(target / "unas", target / "snippets")
        done = subprocess.run(["bash", "-euc", command.removeprefix("sudo ")], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        installed = target / "unas" / "apps" / "qbittorrent"
        assert sorted(str(path.relative_to(installed)) for path in installed.rglob("*")
                      if path.is_file()) == APP_FILES
        for name in APP_FILES:
            assert (installed / name).read_bytes() == (APP_DIR / name).read_bytes()
            assert (installed / name).stat().st_mode & 0o777 == 0o644
        snippet = (target / "snippets" / "qbittorrent-fsi.conf").read_text()
        port = re.search(r"FSI_PORT=(\d+)", command)
        assert snippet == SNIPPET.read_text().replace(
            "http://127.0.0.1:8086/", "http://127.0.0.1:%s/" % (port.group(1) if port else 8086)
        ).replace("root /unas;", "root %s;" % (target / "unas"))
