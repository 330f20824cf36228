from __future__ import annotations

import os
import stat

import pytest

from plugin.errors import Err, FsiError
from plugin.program_config import ProgramConfig, port_in_command

MIXED = (
    b"; managed by hand, keep these comments\n"
    b"[program:other]\n"
    b"command=/usr/bin/other --webui-port=1111   ; not ours\n"
    b"\n"
    b"[program:qbittorrent]\n"
    b"# the port below is rewritten by qbittorrent-fsi\n"
    b"command = qbittorrent-nox --profile=/srv/qbt --webui-port=8080\n"
    b"autostart=false\r\n"
    b"[program:qbittorrent-extra]\n"
    b"command=qbittorrent-nox --webui-port=9999\n"
    b"[group:x]\n"
    b"programs=other\n"
)


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "programs.ini"
    path.write_bytes(MIXED)
    return ProgramConfig(path, "qbittorrent")


def test_reads_the_port_of_its_own_program_only(conf):
    assert conf.port() == 8080


def test_rewrite_changes_only_the_port(conf):
    previous = conf.set_port(18080)
    assert previous == MIXED
    assert conf.path.read_bytes() == MIXED.replace(b"--webui-port=8080", b"--webui-port=18080")
    assert conf.port() == 18080


def test_same_port_writes_nothing(conf):
    inode = conf.path.stat().st_ino
    assert conf.set_port(8080) is None
    assert conf.path.stat().st_ino == inode


def test_missing_port_argument_is_appended(tmp_path):
    path = tmp_path / "q.ini"
    path.write_bytes(b"[program:qbittorrent]\ncommand=qbittorrent-nox\nautostart=false\n")
    config = ProgramConfig(path)
    assert config.port() is None
    config.set_port(8181)
    assert path.read_bytes() == (b"[program:qbittorrent]\ncommand=qbittorrent-nox "
                                 b"--webui-port=8181\nautostart=false\n")


def test_continuation_lines_belong_to_the_command(tmp_path):
    path = tmp_path / "q.ini"
    path.write_bytes(b"[program:qbittorrent]\ncommand=qbittorrent-nox\n"
                     b"    --webui-port 8080\nuser=qbt\n")
    config = ProgramConfig(path)
    assert config.port() == 8080
    config.set_port(9090)
    assert b"    --webui-port 9090\nuser=qbt\n" in path.read_bytes()


def test_write_is_atomic_and_keeps_the_mode(conf):
    os.chmod(conf.path, 0o640)
    inode = conf.path.stat().st_ino
    conf.set_port(18081)
    st = conf.path.stat()
    assert st.st_ino != inode  # a new file was renamed over the old one
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert [p.name for p in conf.path.parent.iterdir()] == [conf.path.name]


def test_restore_puts_the_previous_bytes_back(conf):
    previous = conf.set_port(18082)
    conf.write(previous)
    assert conf.path.read_bytes() == MIXED


def test_file_without_the_program_is_a_config_error(tmp_path):
    path = tmp_path / "q.ini"
    path.write_bytes(b"[program:other]\ncommand=x\n")
    with pytest.raises(FsiError) as caught:
        ProgramConfig(path).set_port(1234)
    assert caught.value.code == Err.CONFIG
    assert path.read_bytes() == b"[program:other]\ncommand=x\n"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(FsiError) as caught:
        ProgramConfig(tmp_path / "absent.ini").port()
    assert caught.value.code == Err.CONFIG


def test_unwritable_directory_is_a_save_error(conf, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(FsiError) as caught:
        conf.set_port(18083)
    assert caught.value.code == Err.SAVE
    assert conf.path.read_bytes() == MIXED


def test_port_in_command():
    assert port_in_command("qbittorrent-nox --profile=/x --webui-port=8080") == 8080
    assert port_in_command(b"qbittorrent-nox --webui-port 81 ") == 81
    assert port_in_command("qbittorrent-nox") is None
