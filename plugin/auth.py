"""Who may talk to the plugin: the admin password, login tokens, lockout.

The password is kept only as a salted scrypt hash in a 0600 file of the
runtime directory. Tokens live in memory: they travel in the FSI body (no
cookies, hence no CSRF from a foreign page), expire after an idle time with
sliding renewal, and never outlive an absolute cap. Changing the password
(from any process: the file's identity is checked) drops every token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from plugin.atomic import write_atomically
from plugin.errors import Err, FsiError

ADMIN_USER = "admin"
#: Wrong passwords from one address that lock it out (9986) ...
LOCKOUT_FAILURES = 5
#: ... for this many seconds, doubled by each further one up to ``lockout_window``.
FIRST_LOCKOUT = 15.0
#: How long a login waits for the password checks before it (one at a time).
LOGIN_QUEUE_WAIT = 5.0
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, salt: bytes | None = None) -> dict[str, object]:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return {"scheme": "scrypt", **_SCRYPT, "salt": _b64(salt), "hash": _b64(digest)}


def _verify(record: dict[str, object], password: str) -> bool:
    salt = base64.b64decode(str(record["salt"]))
    expected = base64.b64decode(str(record["hash"]))
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=len(expected),
                            n=int(record["n"]), r=int(record["r"]), p=int(record["p"]))
    return hmac.compare_digest(digest, expected)


class PasswordFile:
    """The admin's password hash on disk (mode 0600, written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def set(self, password: str) -> None:
        if not password:
            raise FsiError(Err.PARAMS, "the password must not be empty")
        record = {"user": ADMIN_USER, **hash_password(password)}
        write_atomically(self.path, json.dumps(record).encode(), 0o600)

    def ensure(self, seed: str | None) -> str | None:
        """Create the file on first run; return a generated password to show once."""
        if self.exists():
            return None
        password = seed or secrets.token_urlsafe(12)
        self.set(password)
        return None if seed else password

    def identity(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self) -> dict[str, object]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise FsiError(Err.LOAD, "cannot read the password file %s: %s"
                           % (self.path, exc)) from None


@dataclass
class _Failures:
    """Wrong passwords from one address: how many, and when the last one came."""

    count: int
    last: float

    def locked_until(self, cap: float) -> float:
        if self.count < LOCKOUT_FAILURES:
            return self.last
        return self.last + min(FIRST_LOCKOUT * 2 ** (self.count - LOCKOUT_FAILURES), cap)


@dataclass
class _Session:
    created: float
    last_used: float


def _key(token: str) -> str:
    # Sessions are looked up by a digest of the token, so the lookup itself
    # compares no secret bytes and a memory dump holds no usable token.
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Checks passwords and tokens for the FSI endpoint."""

    def __init__(self, passwords: PasswordFile, idle: float, lifetime: float,
                 lockout_window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.passwords = passwords
        self.idle = idle
        self.lifetime = lifetime
        self.lockout_window = lockout_window
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._identity: tuple[int, int, int] | None = None
        self._record: dict[str, object] = {}
        self._dummy = hash_password(secrets.token_urlsafe(16))

    def _current_record(self) -> dict[str, object]:
        """The password record; when another process changed it, drop all tokens."""
        try:
            identity = self.passwords.identity()
        except OSError as exc:
            raise FsiError(Err.LOAD, "no password file at %s: %s"
                           % (self.passwords.path, exc.strerror)) from None
        if identity != self._identity:
            self._record = self.passwords.load()
            if self._identity is not None:
                self._sessions.clear()
            self._identity = identity
        return self._record

    def login(self, username: str, password: str, address: str) -> dict[str, object]:
        # One password check at a time: parallel guesses from one address each
        # see the failures before them, and a flood of logins cannot run many
        # scrypt computations (16 MiB each) at once. Token checks do not wait.
        if not self._login_lock.acquire(timeout=LOGIN_QUEUE_WAIT):
            # Many logins at once: answer rather than tie up every web thread.
            raise FsiError(Err.BUSY, "too many logins at once, try again shortly")
        try:
            with self._lock:
                now = self._clock()
                self._prune(now)
                failures = self._failures.get(address)
                # Tries while locked are not counted: the lock ends on time.
                if failures is not None and failures.locked_until(self.lockout_window) > now:
                    retry = math.ceil(failures.locked_until(self.lockout_window) - now)
                    raise FsiError(Err.LOCKED, "too many wrong passwords; try again in %d s"
                                   % retry, {"retry_after": retry})
                record = self._current_record()
            # A wrong user is checked against a dummy hash so that both
            # failures take the same time.
            user_ok = hmac.compare_digest(username.encode(),
                                          str(record.get("user", "")).encode())
            password_ok = _verify(record if user_ok else self._dummy, password)
            with self._lock:
                if not (user_ok and password_ok):
                    failures = self._failures.setdefault(address, _Failures(0, 0.0))
                    failures.count += 1
                    failures.last = self._clock()
                    raise FsiError(Err.AUTHORIZE, "wrong username or password")
                self._failures.pop(address, None)
                token = secrets.token_urlsafe(32)
                now = self._clock()
                self._sessions[_key(token)] = _Session(created=now, last_used=now)
        finally:
            self._login_lock.release()
        return {"token": token, "expires_in": math.ceil(min(self.idle, self.lifetime))}

    def check(self, token: str | None) -> None:
        """Accept a valid token (renewing its idle time) or raise 9984/9988."""
        if not token:
            raise FsiError(Err.NOT_LOGGED_IN, "not logged in: call login and send its token")
        with self._lock:
            self._current_record()
            now = self._clock()
            key = _key(token)
            session = self._sessions.get(key)
            if session is None or not self._alive(session, now):
                self._sessions.pop(key, None)
                raise FsiError(Err.AUTHORIZE, "the token is invalid or expired: log in again")
            session.last_used = now

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(_key(token or ""), None)

    def _alive(self, session: _Session, now: float) -> bool:
        return now - session.last_used < self.idle and now - session.created < self.lifetime

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if not self._alive(s, now)]:
            del self._sessions[key]
        # An address is forgiven after a whole window without a wrong password.
        horizon = now - self.lockout_window
        stale = [address for address, failures in self._failures.items()
                 if failures.locked_until(self.lockout_window) <= horizon]
        for address in stale:
            del self._failures[address]
