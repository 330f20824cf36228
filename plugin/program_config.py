"""qBittorrent's supervisor program config: its Web UI port, and supervisord's view of it.

:class:`ProgramConfig` reads and rewrites only the ``--webui-port`` argument
of the program's ``command=`` line; every other byte of the file (other
programs, comments, spacing, foreign bytes) survives as it was. Writes are
atomic so that supervisord never reads a half-written file.

:class:`ProgramSync` makes supervisord run what the file says, the way
``supervisorctl update`` does: re-read, then remove and add the group.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.errors import Err, FsiError
from plugin.ini_text import decode, encode, key_span
from plugin.rpc_client import Launch, SupervisorClient, SupervisorFault

_PORT_ARG = re.compile(r"(--webui-port(?:=|\s+))(\d+)")

Identity = tuple[int, int, int]


class ProgramConfig:
    """The ``[program:<name>]`` section of a supervisor config file."""

    def __init__(self, path: Path | str, program: str = "qbittorrent") -> None:
        self.path = Path(path)
        self.program = program
        self._section = "program:%s" % program
        self._cache: tuple[Identity, int | None] | None = None
        self._lock = threading.Lock()

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> FsiError:
        return FsiError(Err.CONFIG, "cannot read program config %s: %s"
                        % (self.path, exc.strerror or exc))

    def identity(self) -> Identity:
        """(inode, size, mtime): changes whenever anyone replaces or edits the file."""
        try:
            st = self.path.stat()
        except OSError as exc:
            raise self._unreadable(exc) from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def port(self) -> int | None:
        """The configured Web UI port, or None when the command names none.

        Cached by the file's identity so that polling callers do not re-parse
        an unchanged file.
        """
        key = self.identity()
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        text = decode(self.read())
        start, end = self._command_span(text)
        port = port_in_command(text[start:end])
        self._cache = (key, port)
        return port

    def set_port(self, port: int) -> bytes | None:
        """Write ``port`` into the command; return the previous bytes, or None if unchanged."""
        with self._lock:
            old = self.read()
            text = decode(old)
            start, end = self._command_span(text)
            block = text[start:end]
            if _PORT_ARG.search(block):
                new_block = _PORT_ARG.sub(lambda m: m.group(1) + str(port), block, count=1)
            else:
                head = block.splitlines()[0].rstrip("\r")
                new_block = head + " --webui-port=%d" % port + block[len(head):]
            if new_block == block:
                return None
            self.write(encode(text[:start] + new_block + text[end:]))
            return old

    def write(self, content: bytes) -> None:
        """Replace the file atomically, keeping its permission bits."""
        try:
            write_atomically(self.path, content, self.path.stat().st_mode & 0o7777)
        except OSError as exc:
            raise FsiError(Err.SAVE, "cannot write program config %s: %s"
                           % (self.path, exc.strerror or exc)) from None

    def _command_span(self, text: str) -> tuple[int, int]:
        span = key_span(text, self._section, "command")
        if span is None:
            raise FsiError(Err.CONFIG, "%s has no [%s] section with a command= line"
                           % (self.path, self._section))
        return span


def port_in_command(command: bytes | str) -> int | None:
    """The ``--webui-port`` value in a qBittorrent command line, if any."""
    if isinstance(command, bytes):
        command = decode(command)
    match = _PORT_ARG.search(command)
    return int(match.group(2)) if match else None


class ProgramSync:
    """Has supervisord re-read the program config when the file changed, before a launch.

    A re-read parses every file supervisord includes, so it is asked only
    when the file differs from the one supervisord last parsed (a port change
    by the plugin, or an admin's hand edit), and always before anything is
    stopped: a config supervisord refuses must cost no restart.
    """

    def __init__(self, config: ProgramConfig, client: SupervisorClient) -> None:
        self.config = config
        self.client = client
        self.name = config.program
        # The file as supervisord last parsed it, as far as the plugin knows.
        self._parsed: Identity | None = None
        # supervisord re-read a changed config, but the group runs the old one
        # until it is removed and added again.
        self._group_stale = False

    def sync(self, port_changed: bool = False) -> None:
        """Have supervisord re-read the file if it changed since it last did; 9970 if refused.

        A refusal that is not about this program (another broken file) does
        not block a start on the port supervisord already has; with
        ``port_changed`` (the caller just rewrote the port) it always does.
        """
        identity = self.config.identity()
        if identity == self._parsed:
            return
        try:
            added, changed, _ = self.client.reload_config()
        except SupervisorFault as fault:
            if not port_changed and self._parsed_port() == self.config.port():
                return
            raise FsiError(Err.CONFIG, "supervisord refused its config, so nothing was "
                           "changed: %s" % fault.text) from None
        self._parsed = identity
        if self.name in added or self.name in changed:
            self._group_stale = True

    def restore(self, previous: bytes | None) -> None:
        """Put the file's ``previous`` bytes back (a no-op for None)."""
        if previous is not None:
            self.config.write(previous)

    def launch(self) -> Launch:
        """Start the program in one round trip, re-adding its group first when stale."""
        launch = self.client.launch(self.name, regroup=self._group_stale)
        if launch.regroup_fault is not None:
            raise FsiError(Err.CONFIG, "supervisord could not apply the program config: %s"
                           % launch.regroup_fault.text)
        self._group_stale = False
        return launch

    def _parsed_port(self) -> int | None:
        return port_in_command(self.client.config_info(self.name).get("command", ""))
