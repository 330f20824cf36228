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


def test_proxy_settings_are_normalized_as_waitress_compares_them():
    settings = Settings.from_env({"FSI_TRUSTED_PROXY": "0:0::1", "FSI_TRUSTED_PROXY_HEADERS":
                                  " X-Forwarded-For  x-forwarded-proto"})
    assert settings.trusted_proxy == "::1"
    assert settings.trusted_proxy_headers == "x-forwarded-for x-forwarded-proto"
    assert Settings().trusted_proxy == ""


def test_allowed_hosts_are_kept_in_the_form_requests_are_compared_in():
    settings = Settings.from_env({"FSI_ALLOWED_HOSTS": "NAS.local., [::1] 0:0::1,192.168.1.2"})
    assert settings.allowed_hosts == "nas.local ::1 192.168.1.2"
    assert Settings().allowed_hosts == ""


def test_the_watchdog_is_on_by_default_and_zero_turns_it_off():
    assert (Settings().watchdog_interval, Settings().watchdog_failures,
            Settings().watchdog_kill_after) == (30, 3, 60)
    settings = Settings.from_env({"FSI_WATCHDOG_INTERVAL": "0", "FSI_WATCHDOG_FAILURES": "2",
                                  "FSI_WATCHDOG_KILL_AFTER": "3"})
    assert (settings.watchdog_interval, settings.watchdog_failures,
            settings.watchdog_kill_after) == (0, 2, 3)


@pytest.mark.parametrize("env, word", [
    ({"FSI_PROT": "1"}, "unknown setting FSI_PROT"),
    ({"FSI_PORT": "http"}, "FSI_PORT"),
    ({"FSI_PORT": "70000"}, "FSI_PORT"),
    ({"FSI_NETWORK": "wan"}, "FSI_NETWORK"),
    ({"FSI_STOP_WAIT": "-1"}, "FSI_STOP_WAIT"),
    ({"FSI_CONNECTION_LIMIT": "0"}, "FSI_CONNECTION_LIMIT"),
    ({"FSI_CHANNEL_TIMEOUT": "1.5"}, "FSI_CHANNEL_TIMEOUT"),
    ({"FSI_TRUSTED_PROXY": "*"}, "FSI_TRUSTED_PROXY"),
    ({"FSI_TRUSTED_PROXY": "nas.local"}, "FSI_TRUSTED_PROXY"),
    ({"FSI_TRUSTED_PROXY_HEADERS": "x-real-ip"}, "FSI_TRUSTED_PROXY_HEADERS"),
    ({"FSI_TRUSTED_PROXY_HEADERS": ""}, "FSI_TRUSTED_PROXY_HEADERS"),
    ({"FSI_TRUSTED_PROXY_HEADERS": "forwarded x-forwarded-for"}, "FSI_TRUSTED_PROXY_HEADERS"),
    ({"FSI_WATCHDOG_INTERVAL": "-30"}, "FSI_WATCHDOG_INTERVAL"),
    ({"FSI_WATCHDOG_INTERVAL": "0.01"}, "FSI_WATCHDOG_INTERVAL"),
    ({"FSI_WATCHDOG_FAILURES": "0"}, "FSI_WATCHDOG_FAILURES"),
    ({"FSI_WATCHDOG_FAILURES": "2.5"}, "FSI_WATCHDOG_FAILURES"),
    ({"FSI_WATCHDOG_KILL_AFTER": "soon"}, "FSI_WATCHDOG_KILL_AFTER"),
    ({"FSI_BACKUP_KEEP": "1"}, "FSI_BACKUP_KEEP"),
    ({"FSI_BACKUP_KEEP": "ten"}, "FSI_BACKUP_KEEP"),
    ({"FSI_ALLOWED_HOSTS": "nas.local evil.example/x"}, "'evil.example/x'"),
    ({"FSI_ALLOWED_HOSTS": "*.local"}, "FSI_ALLOWED_HOSTS"),
])
def test_typos_and_bad_values_are_refused(env, word):
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert word in str(caught.value)
