"""supervisord event listener that pushes process state changes to the plugin.

supervisord runs this as the ``<program>-fsi-events`` event listener
(``python -m plugin.event_listener SOCKET``). It speaks supervisor's event
listener protocol on stdin/stdout and fans every event out, as one line
``<eventname> <processname>``, to the plugin processes connected to the
unix stream socket ``SOCKET``. The plugin keeps its status cache only while
it holds that connection and events (``TICK_5`` at least) keep coming: when
supervisord goes away, the listener's stdin hits EOF, the listener exits,
the connection closes and the plugin falls back to asking supervisord.
Should that EOF not come (another process holding the pipe's other end),
supervisord's death still ends it (:mod:`plugin.parent`).

It imports only the standard library: it runs for as long as supervisord
does, and ``supervisor.childutils`` alone would double its memory.
"""
from __future__ import annotations

import os
import select
import socket
import sys
from pathlib import Path
from typing import BinaryIO

from plugin.parent import die_with_parent

#: How long a send to one slow plugin may block before that plugin is dropped
#: (it reconnects and re-reads the state, so dropping it never loses truth).
SEND_TIMEOUT = 0.5
READY = b"READY\n"
#: "Handled, ready for the next one" in one write.
RESULT_OK_READY = b"RESULT 2\nOKREADY\n"


def _tokens(line: bytes) -> dict[bytes, bytes]:
    """``name:value`` tokens of a header or payload line."""
    return dict(token.split(b":", 1) for token in line.split() if b":" in token)


def encode_event(header: dict[bytes, bytes], payload: bytes) -> bytes:
    """The line sent to the plugin for one event: ``<eventname> <processname>``."""
    body = _tokens(payload.split(b"\n", 1)[0])
    return b"%s %s\n" % (header.get(b"eventname", b"UNKNOWN"), body.get(b"processname", b"-"))


def _listen(path: Path) -> socket.socket:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(8)
    return server


def _try_listen(path: Path) -> socket.socket | None:
    """The listening socket, or None while its directory is missing (an unmounted data
    volume): the listener keeps answering supervisord and tries again on the next event."""
    try:
        return _listen(path)
    except OSError:
        return None


def run_listener(path: Path, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Serve events until supervisord closes our stdin."""
    server = _try_listen(path)
    clients: list[socket.socket] = []
    stdout.write(READY)
    stdout.flush()
    try:
        while True:
            readable, _, _ = select.select([stdin] + ([server] if server else []), [], [])
            if server is not None and server in readable:
                client, _ = server.accept()
                client.settimeout(SEND_TIMEOUT)
                clients.append(client)
            if stdin not in readable:
                continue
            # supervisord sends the next event only after our RESULT, so the
            # reader's buffer never holds more than this one event.
            line = stdin.readline()
            if not line:
                return
            header = _tokens(line)
            event = encode_event(header, stdin.read(int(header[b"len"])))
            for client in list(clients):
                try:
                    client.sendall(event)
                except OSError:
                    clients.remove(client)
                    client.close()
            stdout.write(RESULT_OK_READY)
            stdout.flush()
            if server is None:
                server = _try_listen(path)
    finally:
        for client in clients:
            client.close()
        # The socket file stays: a listener started meanwhile may own it already.
        if server is not None:
            server.close()


if __name__ == "__main__":
    die_with_parent()
    run_listener(Path(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
