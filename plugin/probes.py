"""Local probes of processes and TCP listeners, read from ``/proc``.

No probe opens a connection or binds a port: a connect to a free port in
the ephemeral range can pick that same port as its source and "succeed"
(TCP simultaneous open), and a test bind holds the port for a moment.
The kernel's socket tables say who listens without touching anything.
"""
from __future__ import annotations

import os
import select
import time
from pathlib import Path

#: ``st`` of a listening socket in /proc/net/tcp{,6}.
_LISTEN = "0A"
_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_UNPRIVILEGED_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


def exited(pid: int) -> bool:
    """True when ``pid`` has exited, also while it is a zombie not yet reaped."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] in (b"Z", b"X")


def await_exit(pid: int, deadline: float) -> None:
    """Block until ``pid`` exits (a zombie counts) or the monotonic ``deadline``, not polling."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone already, or a kernel without pidfds: the callers poll anyway
    try:
        await_pidfd(fd, deadline)
    finally:
        os.close(fd)


def await_pidfd(pidfd: int, deadline: float) -> bool:
    """Block until the process of ``pidfd`` exits or the monotonic ``deadline``; True if it did."""
    poller = select.poll()  # not select(): that cannot take an fd above 1023
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))


def process_ids() -> list[int]:
    """The pids of every process on the machine (of this pid namespace)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def arguments(pid: int) -> list[bytes] | None:
    """The arguments of a live process (none for a kernel thread), or None when it is gone."""
    try:
        args = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
    except OSError:
        return None
    return args[:-1] if args[-1] == b"" else args  # each argument ends with a NUL


def command_line(pid: int) -> bytes | None:
    """The command line of a live process, arguments joined by spaces."""
    args = arguments(pid)
    return None if args is None else b" ".join(args)


def listener_inodes(port: int) -> set[int]:
    """Socket inodes listening on TCP ``port`` on any local address (IPv4 or IPv6)."""
    suffix = ":%04X" % port
    inodes = set()
    for table in _TABLES:
        try:
            with open(table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if fields[1].endswith(suffix) and fields[3] == _LISTEN:
                        inodes.add(int(fields[9]))
        except FileNotFoundError:
            continue  # a kernel without IPv6
    return inodes


def _socket_inodes(pid: int) -> set[int] | None:
    """Inodes of the sockets ``pid`` holds; None when its fds may not be read."""
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except PermissionError:
        return None
    except OSError:
        return set()
    inodes = set()
    for name in names:
        try:
            target = os.readlink("%s/%s" % (fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listening(port: int, pid: int | None = None) -> bool:
    """True when something (``pid``, if given) listens on TCP ``port``.

    Without the rights to read ``pid``'s fds, any listener on the port counts.
    """
    inodes = listener_inodes(port)
    if not inodes or pid is None:
        return bool(inodes)
    held = _socket_inodes(pid)
    return held is None or not inodes.isdisjoint(held)


def may_listen(port: int, uid: int) -> bool:
    """Whether user ``uid`` may bind ``port`` (privileged ports are root's by default)."""
    if uid == 0:
        return True
    try:
        start = int(_UNPRIVILEGED_START.read_text())
    except (OSError, ValueError):
        start = 1024
    return port >= start
