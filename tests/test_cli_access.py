"""The CLI's side of access control: passwd prompts, what supervisord's environment holds."""
from __future__ import annotations

import getpass
import os
import pwd

import pytest

from plugin import cli
from plugin.conf_text import render
from plugin.auth import Authenticator, PasswordFile
from plugin.errors import FsiError
from plugin.install_conf import install_conf
from plugin.qbt_profile import hand_profile_to_user
from plugin.runtime import prepare_home
from plugin.settings import Settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("FSI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FSI_HOME", str(tmp_path))
    return tmp_path


def answer_prompts(monkeypatch, *answers: str) -> list[str]:
    prompts: list[str] = []
    replies = iter(answers)

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def accepts(home, password: str) -> bool:
    try:
        Authenticator(PasswordFile(home / "auth.json"), 60, 60, 600).login("admin", password, "t")
    except FsiError:
        return False
    return True


def test_passwd_asks_twice_and_stores_only_a_hash(home, monkeypatch, capsys):
    prompts = answer_prompts(monkeypatch, "typed-secret-1", "typed-secret-1")
    cli.main(["passwd"])
    assert len(prompts) == 2
    assert accepts(home, "typed-secret-1")
    assert "typed-secret-1" not in (home / "auth.json").read_text()
    assert "typed-secret-1" not in "".join(capsys.readouterr())


def test_passwd_removes_the_password_an_installer_left(home, monkeypatch, capsys):
    # The Debian package keeps its generated password there: stale once changed.
    PasswordFile(home / "auth.json").set("generated-at-install")
    (home / "initial-admin-password").write_text("generated-at-install\n")
    answer_prompts(monkeypatch, "typed-secret-1", "typed-secret-1")
    cli.main(["passwd"])
    assert accepts(home, "typed-secret-1")
    assert not (home / "initial-admin-password").exists()
    assert "removed %s" % (home / "initial-admin-password") in capsys.readouterr().out


def test_fsi_home_picks_its_install_from_conf_d_with_its_settings(home, tmp_path):
    conf_d = tmp_path / "conf.d"
    for name, runtime, url in (("one", home, "unix:///run/one.sock"),
                               ("two", tmp_path / "two", "unix:///run/two.sock")):
        settings = Settings(home=runtime, program=name)
        install_conf(settings, render(settings, url), conf_d)
    picked = cli._installed_settings(conf_d)
    assert (picked.home, picked.program, picked.supervisor_url) == \
        (home, "one", "unix:///run/one.sock")


def test_passwd_changes_nothing_when_the_two_differ(home, monkeypatch):
    PasswordFile(home / "auth.json").set("old-password")
    answer_prompts(monkeypatch, "typed-secret-1", "typed-secret-2")
    with pytest.raises(SystemExit, match="differ"):
        cli.main(["passwd"])
    assert accepts(home, "old-password")


def test_supervisord_gets_no_password_and_a_qbittorrent_user(home, monkeypatch):
    monkeypatch.setenv("FSI_PASSWORD", "seed-password")
    env = cli._supervisor_env()
    assert "FSI_PASSWORD" not in env and "seed-password" not in env.values()
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert "\nuser=%s\n" % user in render(Settings.from_env()).program
    monkeypatch.setenv("FSI_QBT_USER", "nobody")
    texts = render(Settings.from_env())
    assert "\nuser=nobody\n" in texts.program and "seed-password" not in texts.supervisord


def test_the_plugin_listens_on_loopback_by_default(home):
    assert Settings.from_env().host == "127.0.0.1"


def test_an_unknown_qbittorrent_user_is_refused_before_anything_runs(home):
    with pytest.raises(ValueError, match="no such user"):
        prepare_home(Settings(home=home, qbt_user="no-such-user-fsi"))


def test_the_profile_is_handed_over_but_no_planted_link_out_of_it(tmp_path):
    # Needs root, as CI has (handing files to another user).
    outside = tmp_path / "shadow"
    outside.write_text("root's")
    settings = Settings(home=tmp_path / "home", qbt_user="nobody")
    config = settings.profile / "qBittorrent" / "config"
    config.mkdir(parents=True)
    (config / "qBittorrent.conf").write_text("[Preferences]\n")
    os.link(outside, settings.profile / "planted-hardlink")
    (settings.profile / "planted-symlink").symlink_to(outside)
    hand_profile_to_user(settings)
    nobody = pwd.getpwnam("nobody").pw_uid
    for path in (settings.profile, config, config / "qBittorrent.conf"):
        assert path.stat().st_uid == nobody, path
    assert outside.stat().st_uid == 0
    assert (settings.profile / "planted-symlink").lstat().st_uid == 0
