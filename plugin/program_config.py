"""Reading and rewriting the Web UI port in qBittorrent's supervisor program config.

Only the ``--webui-port`` argument of the program's ``command=`` line is
touched; every other byte of the file (other programs, comments, spacing)
survives as it was. Writes are atomic (temp file in the same directory,
fsync, ``os.replace``) so that supervisord's ``reloadConfig`` never sees a
half-written file, and the previous bytes are handed back to the caller for
a rollback when supervisord refuses the new file.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.errors import Err, FsiError

_SECTION = re.compile(rb"^\s*\[([^\]\r\n]*)\]")
_COMMAND = re.compile(rb"^command\s*[=:]")
_PORT_ARG = re.compile(rb"(--webui-port(?:=|\s+))(\d+)")
_CONTINUATION = re.compile(rb"^[ \t]+\S")


class ProgramConfig:
    """The ``[program:<name>]`` section of a supervisor config file."""

    def __init__(self, path: Path | str, program: str = "qbittorrent") -> None:
        self.path = Path(path)
        self.program = program
        self._header = ("program:%s" % program).encode()
        self._cache: tuple[tuple[int, int, int], int | None] | None = None
        self._lock = threading.Lock()

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> FsiError:
        return FsiError(Err.CONFIG, "cannot read program config %s: %s"
                        % (self.path, exc.strerror or exc))

    def port(self) -> int | None:
        """The configured Web UI port, or None when the command names none.

        Cached by the file's identity (inode, size, mtime) so that polling
        callers do not re-parse an unchanged file.
        """
        try:
            st = self.path.stat()
        except OSError as exc:
            raise self._unreadable(exc) from None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        port = port_in_command(self._command_block(self.read())[2])
        self._cache = (key, port)
        return port

    def set_port(self, port: int) -> bytes | None:
        """Write ``port`` into the command; return the previous bytes, or None if unchanged."""
        with self._lock:
            old = self.read()
            start, end, block = self._command_block(old)
            if _PORT_ARG.search(block):
                new_block = _PORT_ARG.sub(lambda m: m.group(1) + b"%d" % port, block, count=1)
            else:
                first_line_end = block.find(b"\n")
                if first_line_end < 0:
                    first_line_end = len(block)
                head = block[:first_line_end].rstrip(b"\r")
                new_block = head + b" --webui-port=%d" % port + block[len(head):]
            if new_block == block:
                return None
            self.write(old[:start] + new_block + old[end:])
            return old

    def write(self, content: bytes) -> None:
        """Replace the file atomically, keeping its permission bits."""
        try:
            write_atomically(self.path, content, self.path.stat().st_mode & 0o7777)
        except OSError as exc:
            raise FsiError(Err.SAVE, "cannot write program config %s: %s"
                           % (self.path, exc.strerror or exc)) from None

    def _command_block(self, content: bytes) -> tuple[int, int, bytes]:
        """Byte range and text of the section's ``command=`` line and its continuations."""
        in_section = False
        offset = 0
        block_start = -1
        for line in content.splitlines(keepends=True):
            section = _SECTION.match(line)
            if block_start >= 0 and (section or not _CONTINUATION.match(line)):
                return block_start, offset, content[block_start:offset]
            if section:
                in_section = section.group(1).strip() == self._header
            elif in_section and _COMMAND.match(line):
                block_start = offset
            offset += len(line)
        if block_start >= 0:
            return block_start, offset, content[block_start:offset]
        raise FsiError(Err.CONFIG, "%s has no [%s] section with a command= line"
                       % (self.path, self._header.decode()))


def port_in_command(command: bytes | str) -> int | None:
    """The ``--webui-port`` value in a qBittorrent command line, if any."""
    if isinstance(command, str):
        command = command.encode()
    match = _PORT_ARG.search(command)
    return int(match.group(2)) if match else None
