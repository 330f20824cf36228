"""Who may change what supervisord runs: never the user qBittorrent runs as.

supervisord usually runs as root and reads every file of its config, so a
file or directory on that path that qBittorrent's user may write is a root
shell for whoever holds qBittorrent's Web UI login (qBittorrent can run
programs). That user owns only qBittorrent's profile; everything else the
plugin installs belongs to whoever runs ``install-conf`` (root) and is
writable by nobody else.
"""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path


def _user_ids(user: str) -> tuple[int, set[int]]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, set(os.getgrouplist(user, entry.pw_gid))


def writable_by(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` (in groups ``gids``) may change ``path`` itself or what it holds.

    Ownership counts whatever the mode (an owner may chmod); a sticky
    directory (/tmp) lets others add entries but not replace ours; a
    symlink is only as safe as its directory.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return False  # a link cannot be changed, only replaced through its directory
    if info.st_uid == uid:
        return True
    if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return False
    return bool((info.st_gid in gids and info.st_mode & stat.S_IWGRP)
                or info.st_mode & stat.S_IWOTH)


def _with_parents(path: Path) -> list[Path]:
    path = Path(os.path.abspath(path))
    return [path, *path.parents]


def exposed_paths(paths: list[Path], user: str) -> list[Path]:
    """Those of ``paths`` and their parent directories that ``user`` may change."""
    uid, gids = _user_ids(user)
    seen: dict[Path, None] = {}
    for path in paths:
        for each in _with_parents(path):
            if each.exists() or each.is_symlink():
                seen.setdefault(each, None)
    return [path for path in seen if writable_by(path, uid, gids)]


def take_back(path: Path) -> None:
    """Give ``path`` to the current user and take write access from everyone else."""
    os.chown(path, os.geteuid(), os.getegid(), follow_symlinks=False)
    if not path.is_symlink():
        path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
