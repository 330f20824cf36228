"""qBittorrent's profile directory, and the Web UI credentials the plugin keeps in it.

qBittorrent's own Web UI has a login of its own, and its default differs by
version (``admin``/``adminadmin`` up to 4.6.0, a temporary password printed
once from 4.6.1). So the plugin decides the credentials itself: it keeps them
in a 0600 file of the runtime directory (``webui_credentials`` hands them
out) and writes the username and a PBKDF2 hash of the password into the
profile's ``qBittorrent.conf`` before a start, in qBittorrent's own format.

qBittorrent rewrites its config file when it exits, so that file is only
edited while qBittorrent is known to be stopped: when the profile is seeded
and right before supervisord is asked to start it.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import pwd
import re
import secrets
import stat
import threading
from pathlib import Path
from typing import Any

from plugin.atomic import write_atomically
from plugin.conf_text import PRESETS, template
from plugin.errors import Err, FsiError
from plugin.ini_text import decode, encode, read_value, section_name, write_values
from plugin.settings import Settings

DEFAULT_USERNAME = "admin"
PBKDF2_ITERATIONS = 100_000
PBKDF2_BYTES = 64
SALT_BYTES = 16
SECTION = "Preferences"
USERNAME_KEY = "WebUI\\Username"
PASSWORD_KEY = "WebUI\\Password_PBKDF2"
# A charset that QSettings stores verbatim (no escaping to get wrong) and
# that qBittorrent's own username rule (3 characters or more) accepts.
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{3,64}\Z")
PASSWORD_LENGTH = (6, 128)  # qBittorrent asks for 6 characters or more


def profile_config(profile: Path) -> Path:
    """qBittorrent's own config file inside a ``--profile`` directory."""
    return profile / "qBittorrent" / "config" / "qBittorrent.conf"


def profile_log(profile: Path) -> Path:
    """qBittorrent's own log file inside a ``--profile`` directory."""
    return profile / "qBittorrent" / "data" / "logs" / "qbittorrent.log"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """``WebUI\\Password_PBKDF2`` as qBittorrent stores it (salt:PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS,
                                 PBKDF2_BYTES)
    return "@ByteArray(%s:%s)" % (base64.b64encode(salt).decode(),
                                  base64.b64encode(digest).decode())


class WebuiCredentials:
    """The Web UI login the plugin gives qBittorrent, and its place in the profile."""

    def __init__(self, store: Path, config: Path) -> None:
        self.store = Path(store)
        self.config = Path(config)
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> "WebuiCredentials":
        return cls(settings.home / "webui-credentials.json", profile_config(settings.profile))

    def get(self) -> dict[str, Any]:
        """``{username, password, applied}``; ``applied`` is false until the next start."""
        with self._lock:
            record = self._load()
            return {"username": record["username"], "password": record["password"],
                    "applied": self._applied(record, self._read_config())}

    def set(self, username: str, password: str) -> None:
        """Remember new credentials; :meth:`apply` writes them at the next start."""
        with self._lock:
            in_effect = None
            with contextlib.suppress(FsiError):  # an unreadable record is replaced
                old = self._load()
                in_effect = ([old["username"], old["password"]]
                             if self._applied(old, self._read_config()) else old.get("in_effect"))
            self._save({"username": username, "password": password, "written": None,
                        "in_effect": in_effect})

    def in_effect(self) -> tuple[str, str]:
        """The username and password a running qBittorrent accepts, as far as the plugin knows.

        Those in its config: after :meth:`set`, the ones written before, until
        the next start writes the new ones. Never written yet, the current ones.
        """
        with self._lock:
            record = self._load()
            username, password = record.get("in_effect") or (record["username"],
                                                             record["password"])
            return username, password

    def apply(self) -> bool:
        """Write the credentials into qBittorrent.conf unless it has them already.

        Call only while qBittorrent is stopped. Returns whether the file changed.
        """
        with self._lock:
            record = self._load()
            text = self._read_config()
            if self._applied(record, text):
                return False
            written = password_hash(record["password"])
            new_text = write_values(text, SECTION, {
                USERNAME_KEY: record["username"], PASSWORD_KEY: '"%s"' % written})
            try:
                self.config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomically(self.config, encode(new_text), 0o600)
            except OSError as exc:
                raise FsiError(Err.SAVE, "cannot write qBittorrent's config %s: %s"
                               % (self.config, exc.strerror or exc)) from None
            # Written: these are in effect from this start on.
            self._save({"username": record["username"], "password": record["password"],
                        "written": written})
            return True

    @staticmethod
    def _applied(record: dict[str, Any], text: str) -> bool:
        # What was written last is compared as text: hashing the password
        # again with the file's salt would cost a PBKDF2 run on every poll.
        return (record.get("written") is not None
                and read_value(text, SECTION, USERNAME_KEY) == record["username"]
                and read_value(text, SECTION, PASSWORD_KEY) == record["written"])

    def _read_config(self) -> str:
        try:
            return decode(self.config.read_bytes())
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise FsiError(Err.LOAD, "cannot read qBittorrent's config %s: %s"
                           % (self.config, exc)) from None

    def _load(self) -> dict[str, Any]:
        """The stored record; created with a generated password on first use."""
        try:
            record = json.loads(self.store.read_text(encoding="utf-8"))
        except FileNotFoundError:
            record = {"username": DEFAULT_USERNAME, "password": secrets.token_urlsafe(12),
                      "written": None}
            self._save(record)
        except (OSError, ValueError) as exc:
            raise FsiError(Err.LOAD, "cannot read %s: %s" % (self.store, exc)) from None
        return record

    def _save(self, record: dict[str, Any]) -> None:
        try:
            write_atomically(self.store, json.dumps(record).encode(), 0o600)
        except OSError as exc:
            raise FsiError(Err.SAVE, "cannot write %s: %s"
                           % (self.store, exc.strerror or exc)) from None


def preset_values(preset: str) -> dict[str, dict[str, str]]:
    """The ``key=value`` settings of a preset, by section (comments left out)."""
    values: dict[str, dict[str, str]] = {}
    section = None
    for line in preset.splitlines():
        opened = section_name(line)
        if opened is not None:
            section = opened
        elif section is not None and "=" in line and not line.lstrip().startswith((";", "#")):
            key, value = line.split("=", 1)
            values.setdefault(section, {})[key.strip()] = value.strip()
    return values


def seed_preset(config: Path, preset: str) -> bool:
    """Add each setting of ``preset`` that qBittorrent's ``config`` lacks; True if it wrote.

    A new or deleted profile gets the whole preset before anything else is
    written into it; a setting qBittorrent or an admin has set is kept.
    """
    try:
        text = decode(config.read_bytes())
    except FileNotFoundError:
        text = ""
    edited = text
    for section, values in preset_values(preset).items():
        missing = {key: value for key, value in values.items()
                   if read_value(edited, section, key) is None}
        if missing:
            edited = write_values(edited, section, missing)
    if edited == text:
        return False
    try:
        config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(config, encode(edited), 0o600)
    except OSError as exc:
        raise FsiError(Err.SAVE, "cannot write qBittorrent's config %s: %s"
                       % (config, exc.strerror or exc)) from None
    return True


def seed_profile(settings: Settings) -> bool:
    """Give qBittorrent's config the settings of the network preset it lacks; True if it wrote."""
    return seed_preset(profile_config(settings.profile), template(PRESETS[settings.network]))


def hand_profile_to_user(settings: Settings) -> None:
    """Let qBittorrent, run as ``FSI_QBT_USER``, reach and own its profile.

    The runtime directory becomes 0711 (others may pass through it but not
    list it; the password file, socket and logs keep their own 0600/0700).
    """
    if not settings.qbt_user:
        return
    try:
        user = pwd.getpwnam(settings.qbt_user)
    except KeyError:
        raise ValueError("FSI_QBT_USER=%s: no such user" % settings.qbt_user) from None
    if user.pw_uid == os.geteuid():
        return
    if os.geteuid() != 0:
        raise ValueError("FSI_QBT_USER=%s needs supervisord to run as root (or as that user)"
                         % settings.qbt_user)
    settings.home.chmod(0o711)
    for path in [settings.profile, *settings.profile.rglob("*")]:
        _hand_over(path, user.pw_uid, user.pw_gid)


def _hand_over(path: Path, uid: int, gid: int) -> None:
    """chown one profile entry to qBittorrent's user, unless it may name a file elsewhere.

    That user owns the profile, so it can plant entries in it before the next
    run: a symlink, or (with ``fs.protected_hardlinks=0``) a hardlink to a
    root-owned file such as /etc/shadow. Those are never handed over; the
    checks and the chown go through one descriptor, so the entry cannot be
    swapped in between.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return  # a symlink (ELOOP), a socket, or gone: qBittorrent needs none of them
    try:
        info = os.fstat(fd)
        if info.st_uid != uid and (not stat.S_ISREG(info.st_mode) or info.st_nlink == 1):
            os.fchown(fd, uid, gid)
    finally:
        os.close(fd)
