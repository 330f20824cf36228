"""Unit tests: qBittorrent's config edits for the Web UI credentials."""
from __future__ import annotations

import base64
import hashlib
import stat

from plugin.ini_text import read_value, write_values
from plugin.qbt_profile import (PASSWORD_KEY, USERNAME_KEY, WebuiCredentials, password_hash,
                                 seed_preset)

CONF = """[BitTorrent]
Session\\DHTEnabled=false

[Preferences]
General\\Locale=en
WebUI\\Username=old
WebUI\\Port=8080

[LegalNotice]
Accepted=true
"""


def test_password_hash_is_qbittorrents_pbkdf2_format():
    value = password_hash("adminadmin", salt=b"\x01" * 16)
    assert value.startswith("@ByteArray(") and value.endswith(")")
    salt, digest = (base64.b64decode(part) for part in value[11:-1].split(":"))
    assert salt == b"\x01" * 16
    assert digest == hashlib.pbkdf2_hmac("sha512", b"adminadmin", salt, 100000, 64)


def test_setting_values_keeps_every_other_line():
    text = write_values(CONF, "Preferences", {USERNAME_KEY: "nas", PASSWORD_KEY: '"x"'})
    assert text == CONF.replace("WebUI\\Username=old", "WebUI\\Username=nas").replace(
        "WebUI\\Port=8080\n", 'WebUI\\Port=8080\nWebUI\\Password_PBKDF2="x"\n')
    assert read_value(text, "Preferences", PASSWORD_KEY) == "x"
    assert read_value(text, "BitTorrent", USERNAME_KEY) is None


def test_a_missing_section_is_added_at_the_end():
    text = write_values("[LegalNotice]\nAccepted=true\n", "Preferences", {USERNAME_KEY: "a"})
    assert text == "[LegalNotice]\nAccepted=true\n\n[Preferences]\nWebUI\\Username=a\n"
    assert write_values("", "Preferences", {USERNAME_KEY: "a"}) == \
        "[Preferences]\nWebUI\\Username=a\n"


def test_apply_writes_once_and_survives_qbittorrent_rewriting_its_file(tmp_path):
    config = tmp_path / "qBittorrent.conf"
    config.write_text(CONF)
    credentials = WebuiCredentials(tmp_path / "creds.json", config)
    first = credentials.get()
    assert first["username"] == "admin" and len(first["password"]) >= 12
    assert first["applied"] is False
    assert credentials.apply() is True
    assert credentials.apply() is False
    assert stat.S_IMODE((tmp_path / "creds.json").stat().st_mode) == 0o600
    # qBittorrent sorts the keys of each section when it saves on exit.
    lines = config.read_text().splitlines()
    password_line = next(line for line in lines if line.startswith(PASSWORD_KEY))
    lines.remove(password_line)
    lines.insert(lines.index("[Preferences]") + 1, password_line)
    config.write_text("\n".join(lines) + "\n")
    assert credentials.get()["applied"] is True
    credentials.set("nas-admin", "another one")
    assert credentials.get() == {"username": "nas-admin", "password": "another one",
                                 "applied": False}
    assert credentials.apply() is True
    assert read_value(config.read_text(), "Preferences", USERNAME_KEY) == "nas-admin"


def test_the_preset_fills_in_what_a_config_lacks_and_keeps_what_it_has(tmp_path):
    config = tmp_path / "qBittorrent.conf"
    preset = "; comment\n[BitTorrent]\nSession\\DHTEnabled=false\n[Preferences]\nWebUI\\Address=127.0.0.1\n"
    config.write_bytes(b"[Preferences]\nWebUI\\Address=*\nWebUI\\Username=admin\nNote=caf\xe9\n")
    assert seed_preset(config, preset)
    text = config.read_bytes()
    assert b"Session\\DHTEnabled=false" in text and b"WebUI\\Address=*" in text
    assert b"Note=caf\xe9" in text  # a byte that is not UTF-8 survives the edit
    assert not seed_preset(config, preset)


def test_a_missing_profile_gets_the_whole_preset(tmp_path):
    config = tmp_path / "profile" / "qBittorrent" / "config" / "qBittorrent.conf"
    assert seed_preset(config, "[LegalNotice]\nAccepted=true\n")
    assert config.read_text() == "[LegalNotice]\nAccepted=true\n"


def test_in_effect_are_the_credentials_written_last_until_the_next_start(tmp_path):
    config = tmp_path / "qBittorrent.conf"
    config.write_text(CONF)
    credentials = WebuiCredentials(tmp_path / "creds.json", config)
    first = credentials.get()
    assert credentials.in_effect() == (first["username"], first["password"])  # never written
    credentials.apply()
    credentials.set("nas-admin", "another one")
    credentials.set("nas-other", "and another")
    assert credentials.in_effect() == (first["username"], first["password"])
    credentials.apply()  # the next start
    assert credentials.in_effect() == ("nas-other", "and another")
