"""Ending a process together with its parent: supervisord's children must not outlive it.

supervisord gives each child a process group of its own, so when it is
killed (SIGKILL, the OOM killer) nothing stops its children: adopted by
init, a plugin would go on holding its port against the next supervisord's
plugin. A thread holds the parent by a pidfd and, once it has exited, sends
this process SIGTERM. (prctl's parent-death signal needs ctypes, which costs
each process half a megabyte.) Standard library only: the event listener
uses it too.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import threading


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have ``sig`` sent to this process when its parent exits (Linux 5.3 or later)."""
    parent = os.getppid()
    try:
        pidfd = os.pidfd_open(parent)
    except ProcessLookupError:
        pidfd = None
    except OSError as exc:
        print("qbittorrent-fsi: cannot watch the parent process (%s); this process will "
              "outlive it" % exc, file=sys.stderr, flush=True)
        return
    if pidfd is None or os.getppid() != parent:
        # The parent exited before it was held (its pid may be another process's now).
        os.kill(os.getpid(), sig)
        return
    threading.Thread(target=_signal_on_exit, args=(pidfd, sig), name="parent-watch",
                     daemon=True).start()


def _signal_on_exit(pidfd: int, sig: int) -> None:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll()  # returns once the parent has exited
    os.kill(os.getpid(), sig)
