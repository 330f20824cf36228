"""TCP port checks: is a port taken, is a listener accepting yet."""
from __future__ import annotations

import errno
import socket
import time
from typing import Callable


def port_in_use(port: int) -> bool:
    """True when some socket listens on ``port`` on any local address.

    Binding the wildcard address collides with a listener on any specific
    address too; SO_REUSEADDR keeps TIME_WAIT leftovers of a just-stopped
    qBittorrent from counting as "in use" (Linux still refuses the bind
    while anyone listens).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
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


def wait_until(check: Callable[[], bool], deadline: float, interval: float = 0.005,
               max_interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or the monotonic ``deadline`` passes.

    The interval starts small (qBittorrent's Web UI is up tens of
    milliseconds after exec) and backs off so that long waits stay cheap.
    """
    while True:
        if check():
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        time.sleep(min(interval, deadline - now))
        interval = min(interval * 1.5, max_interval)
