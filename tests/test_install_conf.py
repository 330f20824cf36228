"""Unit tests: rendering program snippets for a stock supervisord."""
from __future__ import annotations

import os
import pwd
import re
import socket
import threading

import pytest

from plugin import install_conf as install_conf_module

from plugin.conf_text import expand_env, render
from plugin.errors import Err, FsiError
from plugin.ini_text import cut_section
from plugin.install_conf import install_conf, secure, uninstall_conf
from plugin.rpc_client import SupervisorClient, SupervisordDown
from plugin.program_config import ProgramConfig
from plugin.settings import Settings


def install(settings, dest, url="unix:///run/s.sock"):
    return install_conf(settings, render(settings, url), dest)


def test_env_references_are_expanded_and_percent_escaped():
    text = "command=%(ENV_FSI_HOME)s/x %(program_name)s"
    assert expand_env(text, {"FSI_HOME": "/srv/50%"}) == "command=/srv/50%%/x %(program_name)s"
    with pytest.raises(ValueError):
        expand_env("%(ENV_OTHER)s", {})


def test_section_is_cut_out_with_its_comments():
    config = "[a]\nx=1\n\n[program:p]\n; why\ncommand=c\n\n[include]\nfiles=f\n"
    assert cut_section(config, "program:p") == "[program:p]\n; why\ncommand=c\n"
    with pytest.raises(ValueError):
        cut_section(config, "program:q")


def test_installing_again_keeps_the_live_port(tmp_path):
    settings = Settings(home=tmp_path / "home")
    dest = tmp_path / "conf.d"
    install(settings, dest)
    ProgramConfig(settings.program_conf).set_port(9123)
    written = install(settings, dest)
    assert [path.name for path in written] == ["qbittorrent-fsi.conf", "qbittorrent.conf"]
    assert ProgramConfig(dest / "qbittorrent.conf").port() == 9123
    plugin_conf = (dest / "qbittorrent-fsi.conf").read_text()
    assert 'FSI_SUPERVISOR_URL="unix:///run/s.sock"' in plugin_conf
    assert 'FSI_HOME="%s"' % settings.home in plugin_conf


def test_settings_that_differ_from_their_defaults_reach_the_plugin(tmp_path):
    settings = Settings(home=tmp_path / "home", program="torrents", profile=tmp_path / "qbt",
                        port=9000, stop_grace=900)
    install(settings, tmp_path / "conf.d")
    plugin_conf = (tmp_path / "conf.d" / "torrents-fsi.conf").read_text()
    for pair in ('FSI_PROGRAM="torrents"', 'FSI_PROFILE="%s"' % (tmp_path / "qbt"),
                 'FSI_PORT="9000"', 'FSI_STOP_GRACE="900"'):
        assert pair in plugin_conf
    assert "FSI_HOST=" not in plugin_conf  # the default needs no line
    program = (tmp_path / "conf.d" / "torrents.conf").read_text()
    assert "[program:torrents]" in program
    assert "--profile=%s " % (tmp_path / "qbt") in program
    assert "stopwaitsecs=900" in program


def test_every_program_is_named_after_fsi_program(tmp_path):
    texts = render(Settings(home=tmp_path, program="qbt-alt"))
    assert "[program:qbt-alt]" in texts.program
    for text in (texts.plugin, texts.supervisord):
        assert "[program:qbt-alt-fsi]" in text and "[eventlistener:qbt-alt-fsi-events]" in text
        assert "qbittorrent-fsi]" not in text and "%(ENV_" not in text
    assert "files=%s" % (tmp_path / "qbittorrent.ini") in texts.supervisord


def test_templates_qbittorrents_user_may_change_are_refused_through_the_link(tmp_path,
                                                                            monkeypatch):
    # In a checkout plugin/conf is a link to conf/: the templates' own directory counts.
    nobody = pwd.getpwnam("nobody")
    templates = tmp_path / "conf"
    templates.mkdir()
    os.chown(templates, nobody.pw_uid, nobody.pw_gid)
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "conf").symlink_to(templates)
    monkeypatch.setattr(install_conf_module, "CONF_DIR", tmp_path / "plugin" / "conf")
    settings = Settings(home=tmp_path / "home", qbt_user="nobody")
    settings.log_dir.mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape(str(templates))):
        secure(settings, tmp_path / "conf.d")


def test_without_a_running_supervisord_uninstall_removes_the_snippets(tmp_path):
    # Nothing listens on the socket: nothing of the install runs, so nothing is stopped.
    settings = Settings(home=tmp_path / "home", supervisor_url="unix://%s" % (tmp_path / "none"))
    dest = tmp_path / "conf.d"
    (dest / "admins.conf").parent.mkdir()
    (dest / "admins.conf").write_text("[program:admins]\ncommand=/bin/true\n")
    written = install(settings, dest)
    assert uninstall_conf(settings, dest) == written
    assert [path.name for path in dest.iterdir()] == ["admins.conf"]
    assert settings.auth_file.parent.is_dir()  # kept without --purge


def test_the_client_tells_a_supervisord_that_is_not_running_from_other_failures(tmp_path):
    with pytest.raises(SupervisordDown, match="not running"):  # no socket
        SupervisorClient("unix://%s" % (tmp_path / "none.sock")).process_info("qbittorrent")
    with socket.socket(socket.AF_UNIX) as bound:  # a socket, nobody listening
        bound.bind(str(tmp_path / "bound.sock"))
        with pytest.raises(SupervisordDown):
            SupervisorClient("unix://%s" % (tmp_path / "bound.sock")).process_info("qbittorrent")
    with socket.socket(socket.AF_UNIX) as mute:  # one that hangs up without an answer
        mute.bind(str(tmp_path / "mute.sock"))
        mute.listen()
        client = SupervisorClient("unix://%s" % (tmp_path / "mute.sock"))
        hang_up = threading.Thread(target=lambda: mute.accept()[0].close())
        hang_up.start()
        with pytest.raises(FsiError) as raised:
            client.stop_process("qbittorrent")
        hang_up.join()
    assert raised.value.code == Err.SERVER_OFFLINE and not isinstance(raised.value,
                                                                      SupervisordDown)
