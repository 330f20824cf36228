"""Preparing the runtime directory (``FSI_HOME``) before supervisord starts.

Everything that changes at run time lives there: the supervisor socket,
logs, the rendered configs (the plugin rewrites the qBittorrent program's
port), the qBittorrent profile and the password hash. The checkout's
``conf/`` only holds templates, so running leaves ``git status`` clean.
"""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.auth import PasswordFile
from plugin.conf_text import PRESETS, ConfTexts, render, template
from plugin.qbt_profile import WebuiCredentials, profile_config
from plugin.settings import Settings


def prepare_home(settings: Settings, texts: ConfTexts | None = None) -> str | None:
    """Create what supervisord and qBittorrent need; return a new admin password to show.

    The live program config is written only when missing (it keeps the last
    port and an admin's edits), and qBittorrent's profile is only seeded
    before its first start.
    """
    texts = texts or render(settings)
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Atomic writes: a file torn by an interruption would be kept for good,
    # since existing files are never overwritten.
    if not settings.program_conf.exists():
        write_atomically(settings.program_conf, texts.program.encode(), 0o644)
    seeded = profile_config(settings.profile)
    if not seeded.exists():
        seeded.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(seeded, template(PRESETS[settings.network]).encode(), 0o600)
        # A fresh profile has no qBittorrent running on it: the one safe moment
        # besides a plugin start to give it known Web UI credentials, so that
        # a first `supervisorctl start qbittorrent` gets them too.
        WebuiCredentials.for_settings(settings).apply()
    _hand_profile_to_user(settings)
    return PasswordFile(settings.auth_file).ensure(settings.password)


def _hand_profile_to_user(settings: Settings) -> None:
    """Let qBittorrent, run as ``FSI_QBT_USER``, reach and own its profile.

    The runtime directory becomes 0711 (others may pass through it but not
    list it; the password file, socket and logs keep their own 0600/0700).
    """
    if not settings.qbt_user:
        return
    try:
        user = pwd.getpwnam(settings.qbt_user)
    except KeyError:
        raise ValueError("FSI_QBT_USER=%s: no such user" % settings.qbt_user) from None
    if user.pw_uid == os.geteuid():
        return
    if os.geteuid() != 0:
        raise ValueError("FSI_QBT_USER=%s needs supervisord to run as root (or as that user)"
                         % settings.qbt_user)
    settings.home.chmod(0o711)
    for path in [settings.profile, *settings.profile.rglob("*")]:
        _hand_over(path, user.pw_uid, user.pw_gid)


def _hand_over(path: Path, uid: int, gid: int) -> None:
    """chown one profile entry to qBittorrent's user, unless it may name a file elsewhere.

    That user owns the profile, so it can plant entries in it before the next
    run: a symlink, or (with ``fs.protected_hardlinks=0``) a hardlink to a
    root-owned file such as /etc/shadow. Those are never handed over; the
    checks and the chown go through one descriptor, so the entry cannot be
    swapped in between.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return  # a symlink (ELOOP), a socket, or gone: qBittorrent needs none of them
    try:
        info = os.fstat(fd)
        if info.st_uid != uid and (not stat.S_ISREG(info.st_mode) or info.st_nlink == 1):
            os.fchown(fd, uid, gid)
    finally:
        os.close(fd)
