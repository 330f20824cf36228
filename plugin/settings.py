"""The plugin's settings: one declared table, read from ``FSI_*`` variables.

Like waitress' ``Adjustments``: every setting has a name, a converter and a
default; unknown names are refused so that a typo in a supervisor
``environment=`` line fails loudly instead of being ignored.
"""
from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

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


def _as_grace(value: str) -> int:
    seconds = int(value)
    if seconds < MIN_STOP_GRACE:
        raise ValueError("qBittorrent needs at least %d s to save resume data, got %r"
                         % (MIN_STOP_GRACE, value))
    return seconds


def _as_keep(value: str) -> int:
    count = int(value)
    if count < MIN_BACKUP_KEEP:
        raise ValueError("at least %d: a restore keeps the backup it restores and the one it "
                         "makes first, got %r" % (MIN_BACKUP_KEEP, value))
    return count


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
    "backup_keep": _as_keep,
    "python": str,
}

assert set(CONVERTERS) == {f.name for f in fields(Settings)}
