"""What an admin looks at when something is off: qBittorrent's log and the versions in play."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import plugin
from plugin.errors import Err, FsiError
from plugin.rpc_client import SupervisorClient, SupervisorFault

QBITTORRENT_BINARY = "qbittorrent-nox"
FSI_PROTOCOL = "2.1"
MAX_LOG_LINES = 1000
DEFAULT_LOG_LINES = 100
#: Bytes read per requested line: qBittorrent's lines are well under this.
BYTES_PER_LINE = 512
#: ``log`` sources: qBittorrent's own log file, or what supervisord captured.
LOG_SOURCES = ("qbittorrent", "stdout", "stderr")


def validate_lines(value: Any) -> int:
    if value is None:
        return DEFAULT_LOG_LINES
    if type(value) is not int or not 1 <= value <= MAX_LOG_LINES:
        raise FsiError(Err.PARAMS, "lines must be an integer from 1 to %d" % MAX_LOG_LINES)
    return value


def validate_source(value: Any) -> str:
    if value is None:
        return LOG_SOURCES[0]
    if value not in LOG_SOURCES:
        raise FsiError(Err.PARAMS, "source must be one of: %s" % ", ".join(LOG_SOURCES))
    return value


def last_lines(data: bytes, lines: int, complete: bool) -> list[str]:
    """The last ``lines`` lines of ``data``; a cut-off first line is dropped unless complete."""
    text = data.decode("utf-8", errors="replace").splitlines()
    if not complete and text:
        text = text[1:]
    return text[-lines:]


def tail_file(path: Path, lines: int) -> list[str]:
    """The last lines of a file, reading a bounded number of bytes from its end."""
    budget = lines * BYTES_PER_LINE
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - budget))
            return last_lines(handle.read(budget), lines, complete=size <= budget)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FsiError(Err.LOAD, "cannot read %s: %s" % (path, exc.strerror or exc)) from None


def tail_output(client: SupervisorClient, program: str, stream: str, lines: int) -> list[str]:
    """The last lines supervisord captured from the program's stdout or stderr."""
    budget = lines * BYTES_PER_LINE
    try:
        text, _ = client.tail_log(program, stream, budget)
    except SupervisorFault as fault:
        raise FsiError(Err.LOAD, "supervisord has no %s log for %s: %s"
                       % (stream, program, fault.text)) from None
    data = text.encode("utf-8", errors="replace")
    return last_lines(data, lines, complete=len(data) < budget)


@functools.lru_cache(maxsize=4)
def _binary_version(binary: str, identity: tuple[int, int]) -> str | None:
    # ``identity`` (inode, mtime) is part of the cache key: an upgraded
    # package answers its new version without restarting the plugin.
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1].lstrip("v") if done.returncode == 0 and words else None


def qbittorrent_version(binary: str = QBITTORRENT_BINARY) -> str | None:
    """``qbittorrent-nox --version`` (e.g. ``4.5.2``), cached per installed binary."""
    path = shutil.which(binary)
    if path is None:
        return None
    st = os.stat(path)
    found = _binary_version(path, (st.st_ino, st.st_mtime_ns))
    if found is None:
        _binary_version.cache_clear()  # a failure (e.g. a timeout under load) is asked again
    return found


def versions(client: SupervisorClient) -> dict[str, Any]:
    return {"plugin": plugin.__version__, "fsi": FSI_PROTOCOL,
            "qbittorrent": qbittorrent_version(), "supervisor": client.supervisor_version()}
