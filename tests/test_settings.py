from __future__ import annotations

from pathlib import Path

import pytest

from plugin.settings import Settings


def test_defaults_live_in_the_runtime_directory(tmp_path):
    settings = Settings.from_env({"FSI_HOME": str(tmp_path)})
    assert settings.host == "127.0.0.1" and settings.port == 8086
    assert settings.supervisor_url == "unix://%s/supervisor.sock" % tmp_path
    assert settings.program_conf == tmp_path / "qbittorrent.ini"
    assert settings.profile == tmp_path / "profile"


def test_values_are_converted():
    settings = Settings.from_env({"FSI_PORT": "9000", "FSI_TOKEN_IDLE": "1.5",
                                  "FSI_NETWORK": "lan", "FSI_BACKUP_KEEP": "3",
                                  "HOME": "/ignored"})
    assert (settings.port, settings.token_idle, settings.network) == (9000, 1.5, "lan")
    assert settings.home == Path("/var/lib/qbittorrent-fsi")
    assert settings.log_dir == settings.home / "log"
    assert settings.backup_keep == 3 and Settings().backup_keep == 10


@pytest.mark.parametrize("env, word", [
    ({"FSI_PROT": "1"}, "unknown setting FSI_PROT"),
    ({"FSI_PORT": "http"}, "FSI_PORT"),
    ({"FSI_PORT": "70000"}, "FSI_PORT"),
    ({"FSI_NETWORK": "wan"}, "FSI_NETWORK"),
    ({"FSI_STOP_WAIT": "-1"}, "FSI_STOP_WAIT"),
    ({"FSI_BACKUP_KEEP": "1"}, "FSI_BACKUP_KEEP"),
    ({"FSI_BACKUP_KEEP": "ten"}, "FSI_BACKUP_KEEP"),
])
def test_typos_and_bad_values_are_refused(env, word):
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert word in str(caught.value)
