"""TCP port checks: is a port taken, is a listener accepting yet."""
from __future__ import annotations

import errno
import socket


def port_in_use(port: int) -> bool:
    """True when some socket listens on ``port`` on any local address.

    Binding the wildcard address collides with a listener on any specific
    address too; SO_REUSEADDR keeps TIME_WAIT leftovers of a just-stopped
    qBittorrent from counting as "in use" (Linux still refuses the bind
    while anyone listens). A port this process may not bind (below 1024
    without root) raises PermissionError.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def accepting(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
