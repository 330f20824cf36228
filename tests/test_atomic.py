from __future__ import annotations

import os
import pwd
import stat

from plugin.atomic import write_atomically


def test_replaces_the_file_whole_with_the_mode_asked(tmp_path):
    path = tmp_path / "qBittorrent.conf"
    path.write_bytes(b"old")
    write_atomically(path, b"new", 0o640)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["qBittorrent.conf"]


def test_a_replaced_file_keeps_its_owner(tmp_path):
    # As root (the tests run as root), the plugin edits files of the qBittorrent user.
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "qBittorrent.conf"
    path.write_bytes(b"old")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    write_atomically(path, b"new")
    assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
