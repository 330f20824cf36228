"""The plugin's settings: one declared table, read from ``FSI_*`` variables.

Like waitress' ``Adjustments``: every setting has a name, a converter and a
default; unknown names are refused so that a typo in a supervisor
``environment=`` line fails loudly instead of being ignored.
"""
from __future__ import annotations

import ipaddress
import os
import pwd
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from waitress.adjustments import KNOWN_PROXY_HEADERS

from plugin.hostnames import host_key

ENV_PREFIX = "FSI_"
#: Where an installed plugin keeps its runtime directory.
DEFAULT_HOME = Path("/var/lib/qbittorrent-fsi")
#: The shortest stop grace accepted: below it a big session loses resume data.
MIN_STOP_GRACE = 300
#: The fewest backups kept (FSI_BACKUP_KEEP).
MIN_BACKUP_KEEP = 2


def _as_port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError("port out of range: %r" % value)
    return port


def _as_seconds(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise ValueError("negative duration: %r" % value)
    return seconds


def _as_check_interval(value: str) -> float:
    seconds = _as_seconds(value)
    if 0 < seconds < 1:
        raise ValueError("0 (off) or at least 1 second, got %r" % value)
    return seconds


def _whole_at_least(value: str, minimum: int, reason: str) -> int:
    number = int(value)
    if number < minimum:
        raise ValueError("%s, got %r" % (reason, value))
    return number


def _as_count(value: str) -> int:
    return _whole_at_least(value, 1, "must be at least 1")


def _as_grace(value: str) -> int:
    return _whole_at_least(value, MIN_STOP_GRACE, "qBittorrent needs at least %d s to save "
                           "resume data" % MIN_STOP_GRACE)


def _as_proxy_address(value: str) -> str:
    """An IP address, in the form waitress compares with the peer's; empty: no proxy."""
    if not value:
        return value
    # No "*": with every peer trusted, any caller could pick its lockout address.
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IP address: %r" % value) from None


def _as_proxy_headers(value: str) -> str:
    """waitress' names of the proxy headers to trust, separated by spaces."""
    names = value.lower().split()
    if not names or not set(names) <= KNOWN_PROXY_HEADERS:
        raise ValueError("name one or more of %s, not %r"
                         % (" ".join(sorted(KNOWN_PROXY_HEADERS)), value))
    if "forwarded" in names and len(names) > 1:
        raise ValueError("trust either forwarded or x-forwarded-* headers, not both")
    return " ".join(names)


def _as_host_names(value: str) -> str:
    """DNS names or IP addresses separated by spaces or commas, each in its one form."""
    names = value.replace(",", " ").split()
    keys = [host_key(name) for name in names]
    bad = [name for name, key in zip(names, keys) if key is None]
    if bad:
        raise ValueError("not a DNS name or IP address: %s" % ", ".join(map(repr, bad)))
    return " ".join(dict.fromkeys(keys))  # type: ignore[arg-type]


def _as_keep(value: str) -> int:
    return _whole_at_least(value, MIN_BACKUP_KEEP, "a restore keeps the backup it restores "
                           "and the one it makes first: at least %d" % MIN_BACKUP_KEEP)


def _as_network(value: str) -> str:
    if value not in ("loopback", "lan"):
        raise ValueError("network must be 'loopback' or 'lan', not %r" % value)
    return value


@dataclass(frozen=True)
class Settings:
    #: Runtime directory: sockets, live program config, profile, secrets.
    #: ``make`` sets ``var/`` in the checkout.
    home: Path = DEFAULT_HOME
    #: Address and port the FSI web server listens on.
    host: str = "127.0.0.1"
    port: int = 8086
    #: Seeds the admin password on first run only.
    password: str | None = field(default=None, repr=False)
    #: supervisord program (and group) name of qBittorrent.
    program: str = "qbittorrent"
    #: Where supervisord listens; default: the unix socket in ``home``.
    supervisor_url: str = ""
    #: The ``username``/``password`` of supervisord's ``[unix_http_server]``, if it has them.
    supervisor_username: str = ""
    supervisor_password: str = field(default="", repr=False)
    #: Where supervisord writes the programs' logs; default: ``log/`` in ``home``.
    log_dir: Path | None = None
    #: The live supervisor config file holding the qBittorrent program.
    program_conf: Path | None = None
    #: qBittorrent profile (``--profile``); seeded from a preset before first start.
    profile: Path | None = None
    #: Which profile preset to seed: ``loopback`` (safe demo) or ``lan``.
    network: str = "loopback"
    #: Token idle expiry and absolute lifetime, seconds.
    token_idle: float = 1800.0
    token_max: float = 12 * 3600.0
    #: Five wrong passwords from one address within this many seconds lock it out.
    lockout_window: float = 600.0
    #: System user qBittorrent runs as (supervisor ``user=``); empty: the user
    #: running supervisord. Set it when supervisord runs as root.
    qbt_user: str = ""
    #: How long ``start`` waits for the Web UI to accept connections.
    start_timeout: float = 15.0
    #: Default bounded wait of ``stop`` before answering "still stopping".
    stop_wait: float = 15.0
    #: How long supervisord lets qBittorrent save resume data after SIGTERM
    #: before it may SIGKILL it (the program's ``stopwaitsecs``).
    stop_grace: int = 600
    #: Socket timeout of each XML-RPC call to supervisord.
    rpc_timeout: float = 10.0
    #: How long a lifecycle request waits for another one to finish.
    busy_wait: float = 1.0
    #: Worker threads of the web server.
    threads: int = 8
    #: Connections the web server keeps open at once; later ones wait unaccepted.
    #: Hundreds, so that idle or slow clients leave room for real ones; each
    #: holds a descriptor (two while a body over 512 KiB is buffered in a
    #: file), so 400 stays clear of the usual soft limit of 1024.
    connection_limit: int = 400
    #: Seconds a connection with no request in progress stays open (short: idle,
    #: it only holds a place), and how often the web server looks for such ones.
    channel_timeout: int = 30
    cleanup_interval: int = 10
    #: Bytes of request line and headers: what a slow client can make the
    #: server hold per connection. A NAS page sends about 1 KiB; 200 slow
    #: clients holding 4 KiB each keep the plugin under 30 MB of memory.
    max_header_size: int = 4 * 1024
    #: The address of a reverse proxy whose X-Forwarded-* headers name the
    #: real client (for the lockout, and the host in ``webui_url``); empty: none.
    trusted_proxy: str = ""
    #: Which of that proxy's headers to trust (waitress' names).
    trusted_proxy_headers: str = "x-forwarded-for x-forwarded-host x-forwarded-proto"
    #: The names the plugin answers FSI requests to, by the request's ``Host``
    #: (a defence against DNS rebinding); empty: any.
    allowed_hosts: str = ""
    #: Seconds between two checks of a running qBittorrent's Web UI; 0 turns
    #: the watchdog off.
    watchdog_interval: float = 30.0
    #: Failed checks in a row after which the watchdog restarts qBittorrent.
    watchdog_failures: int = 3
    #: How long a watchdog restart lets a hung qBittorrent take to exit after
    #: SIGTERM before supervisord SIGKILLs it.
    watchdog_kill_after: float = 60.0
    #: How many backups are kept in ``home/backups``; the oldest automatic ones go first.
    backup_keep: int = 10
    #: Interpreter that supervisord uses to run the plugin (``conf/supervisord.conf``).
    python: str = sys.executable

    def __post_init__(self) -> None:
        home = Path(self.home).absolute()
        object.__setattr__(self, "home", home)
        if not self.supervisor_url:
            object.__setattr__(self, "supervisor_url", "unix://%s" % (home / "supervisor.sock"))
        if self.program_conf is None:
            object.__setattr__(self, "program_conf", home / "qbittorrent.ini")
        if self.profile is None:
            object.__setattr__(self, "profile", home / "profile")
        if self.log_dir is None:
            object.__setattr__(self, "log_dir", home / "log")

    @property
    def qbittorrent_user(self) -> str:
        """Who qBittorrent runs as: ``FSI_QBT_USER``, else whoever runs supervisord."""
        return self.qbt_user or pwd.getpwuid(os.geteuid()).pw_name

    @property
    def supervisord_conf(self) -> Path:
        """The main config ``qbittorrent-fsi run`` writes for its own supervisord."""
        return self.home / "supervisord.conf"

    @property
    def choice_file(self) -> Path:
        """Whether the admin last started or stopped qBittorrent through the plugin."""
        return self.home / "autostart.json"

    @property
    def auth_file(self) -> Path:
        return self.home / "auth.json"

    @property
    def initial_password_file(self) -> Path:
        """Where an installer (the Debian package) leaves the admin password it generated."""
        return self.home / "initial-admin-password"

    @property
    def events_socket(self) -> Path:
        """Where supervisord's event listener pushes process state changes."""
        return self.home / "events.sock"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``FSI_*`` variables; unknown ``FSI_*`` names are errors."""
        environ = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for name, value in environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            key = name[len(ENV_PREFIX):].lower()
            if key not in CONVERTERS:
                raise ValueError("unknown setting %s (known: %s)" % (
                    name, ", ".join(ENV_PREFIX + k.upper() for k in sorted(CONVERTERS))))
            try:
                kwargs[key] = CONVERTERS[key](value)
            except ValueError as exc:
                raise ValueError("bad value for %s: %s" % (name, exc)) from None
        kwargs.update(overrides)
        return cls(**kwargs)


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "home": Path,
    "host": str,
    "port": _as_port,
    "password": str,
    "program": str,
    "supervisor_url": str,
    "supervisor_username": str,
    "supervisor_password": str,
    "log_dir": Path,
    "program_conf": Path,
    "profile": Path,
    "network": _as_network,
    "token_idle": _as_seconds,
    "token_max": _as_seconds,
    "lockout_window": _as_seconds,
    "qbt_user": str,
    "start_timeout": _as_seconds,
    "stop_wait": _as_seconds,
    "stop_grace": _as_grace,
    "rpc_timeout": _as_seconds,
    "busy_wait": _as_seconds,
    "threads": int,
    "connection_limit": _as_count,
    "channel_timeout": _as_count,
    "cleanup_interval": _as_count,
    "max_header_size": _as_count,
    "trusted_proxy": _as_proxy_address,
    "trusted_proxy_headers": _as_proxy_headers,
    "allowed_hosts": _as_host_names,
    "watchdog_interval": _as_check_interval,
    "watchdog_failures": _as_count,
    "watchdog_kill_after": _as_seconds,
    "backup_keep": _as_keep,
    "python": str,
}

assert set(CONVERTERS) == {f.name for f in fields(Settings)}
