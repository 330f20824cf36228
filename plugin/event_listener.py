"""supervisord event listener that pushes process state changes to the plugin.

supervisord runs this as ``[eventlistener:qbittorrent-fsi-events]``
(``qbittorrent-fsi events``). It speaks supervisor's event listener protocol
on stdin/stdout and fans every event out, as one line
``<eventname> <processname>``, to the plugin processes connected to a unix
stream socket in ``FSI_HOME``. The plugin keeps its status cache only while
it holds that connection: when supervisord goes away, the listener's stdin
hits EOF, the listener exits, the connection closes and the plugin falls
back to asking supervisord directly.
"""
from __future__ import annotations

import os
import select
import socket
from pathlib import Path
from typing import BinaryIO

#: How long a send to one slow plugin may block before that plugin is dropped
#: (it reconnects and re-reads the state, so dropping it never loses truth).
SEND_TIMEOUT = 0.5


def encode_event(header: bytes, payload: bytes) -> bytes:
    """The line sent to the plugin for one event: ``<eventname> <processname>``."""
    fields = dict(token.split(b":", 1) for token in header.split() if b":" in token)
    first_line = payload.split(b"\n", 1)[0]
    body = dict(token.split(b":", 1) for token in first_line.split() if b":" in token)
    return b"%s %s\n" % (fields.get(b"eventname", b"UNKNOWN"), body.get(b"processname", b"-"))


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


def run_listener(path: Path, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Serve events until supervisord closes our stdin."""
    server = _listen(path)
    clients: list[socket.socket] = []
    stdout.write(b"READY\n")
    stdout.flush()
    try:
        while True:
            readable, _, _ = select.select([stdin, server], [], [])
            if server in readable:
                client, _ = server.accept()
                client.settimeout(SEND_TIMEOUT)
                clients.append(client)
            if stdin not in readable:
                continue
            # supervisord sends the next event only after our RESULT, so the
            # reader's buffer never holds more than this one event.
            header = stdin.readline()
            if not header:
                return
            length = int(dict(t.split(b":", 1) for t in header.split())[b"len"])
            line = encode_event(header, stdin.read(length))
            for client in list(clients):
                try:
                    client.sendall(line)
                except OSError:
                    clients.remove(client)
                    client.close()
            stdout.write(b"RESULT 2\nOKREADY\n")
            stdout.flush()
    finally:
        for client in clients:
            client.close()
        # The socket file stays: a listener started meanwhile may own it already.
        server.close()
