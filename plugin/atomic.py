"""Replacing a file so that readers see either the old or the new bytes, never half."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then ``os.replace``.

    The temp name starts with a dot and ends in ``.tmp`` so that a supervisor
    ``[include] files=*.conf`` glob in the same directory never picks it up.
    A replaced file keeps its owner: the plugin may run as root while the
    file belongs to the user qBittorrent runs as (``FSI_QBT_USER``).
    """
    try:
        owner = path.stat()
    except FileNotFoundError:
        owner = None
    fd, tmp = tempfile.mkstemp(prefix=".%s." % path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if owner is not None and (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
