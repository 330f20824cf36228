"""What an admin looks at when something is off: qBittorrent's log and the versions in play."""
from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import plugin
from plugin.errors import Err, FsiError
from plugin.rpc_client import SupervisorClient, SupervisorFault

QBITTORRENT_BINARY = "qbittorrent-nox"
FSI_PROTOCOL = "2.1"
#: Bytes read per requested line: qBittorrent's lines are well under this.
BYTES_PER_LINE = 512
#: The program's captured output streams.
STREAMS = ("stdout", "stderr")
#: Lines of qBittorrent's output that say why it gave up.
_ERROR_HINT = re.compile(r"(?i)unable|could not|cannot|can't|error|fail|bad |denied|"
                         r"unknown|not found|invalid|abort")
#: How much of each stream a failed start quotes from.
_FAILURE_TAIL = 4096


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


class ProgramOutput:
    """What supervisord captured of a program's stdout and stderr."""

    def __init__(self, client: SupervisorClient, program: str) -> None:
        self.client = client
        self.program = program
        self._paths: dict[str, str] | None = None

    def tail(self, stream: str, lines: int) -> list[str]:
        """The last ``lines`` lines of ``stream`` (stdout or stderr)."""
        budget = lines * BYTES_PER_LINE
        try:
            text, _ = self.client.tail_log(self.program, stream, budget)
        except SupervisorFault as fault:
            raise FsiError(Err.LOAD, "supervisord has no %s log for %s: %s"
                           % (stream, self.program, fault.text)) from None
        data = text.encode("utf-8", errors="replace")
        return last_lines(data, lines, complete=len(data) < budget)

    def sizes(self) -> dict[str, int]:
        """The streams' log sizes now, so that a failure quotes only what follows.

        The paths are asked once (asking each time costs a round trip per
        start); should an admin move the logs, a failure message may quote
        older lines too, nothing worse.
        """
        if self._paths is None:
            config = self.client.config_info(self.program)
            self._paths = {stream: config.get("%s_logfile" % stream) for stream in STREAMS}
        sizes = {}
        for stream, path in self._paths.items():
            try:
                sizes[stream] = os.stat(path).st_size
            except FileNotFoundError:
                sizes[stream] = 0  # this start creates it
            except (OSError, TypeError):
                continue  # no log file, or one we may not look at
        return sizes

    def failure_reason(self, sizes: dict[str, int]) -> str:
        """Why the program died: error-looking lines it wrote since ``sizes`` were taken."""
        lines: list[str] = []
        for stream in ("stderr", "stdout"):
            if stream not in sizes:
                continue  # where this start began is unknown: older lines are no reason
            with contextlib.suppress(SupervisorFault):
                text, size = self.client.tail_log(self.program, stream, _FAILURE_TAIL)
                data = text.encode()
                fresh = size - sizes[stream]
                # A log shorter than before was rotated: all it holds is new.
                if 0 <= fresh < len(data):
                    data = data[len(data) - fresh:]
                lines += [line.strip() for line in data.decode(errors="replace").splitlines()
                          if line.strip()]
        telling = [line for line in lines if _ERROR_HINT.search(line)] or lines
        if telling:
            return " | ".join(telling[-3:])
        info = self.client.process_info(self.program)
        return info.get("spawnerr") or info.get("description") or "it exited at once"


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
