"""qBittorrent's Web API on 127.0.0.1, with one logged-in session kept between calls.

Standard library only (``http.client``), so that Debian 12's own Python runs
it. The session is qBittorrent's cookie (``SID``) from a login with the
credentials the plugin gives qBittorrent; a request answered 403 (the
session expired) logs in again once and is repeated. A kept-alive
connection that qBittorrent closed meanwhile is opened again once.

A login qBittorrent refuses is not tried again against the same process
with the same credentials: qBittorrent bans an address after a few failed
logins, and a page polling every few seconds would soon get 127.0.0.1
banned, its admin's own Web UI logins from there included. Every failure
is an :class:`FsiError` 9971 (``Err.OFFLINE``) whose message says which.
"""
from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, NamedTuple

from plugin.errors import Err, FsiError

HOST = "127.0.0.1"
#: Seconds one request may take; a full update of ten thousand torrents takes seconds.
TIMEOUT = 10.0
LOGIN_PATH = "/api/v2/auth/login"


@dataclass(frozen=True)
class WebApiTarget:
    """Which qBittorrent process to ask (its port and pid), and the login it should accept."""

    port: int
    pid: int | None
    username: str
    password: str = field(repr=False)


class WebApiClient:
    """GET requests to one qBittorrent at a time, on a kept-alive connection and session."""

    def __init__(self, host: str = HOST, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout
        self._lock = threading.Lock()
        self._target: WebApiTarget | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._cookie: str | None = None
        self._refusal: tuple[WebApiTarget, str] | None = None

    def get_json(self, target: WebApiTarget, path: str, **query: Any) -> Any:
        """The decoded JSON answer of ``GET path?query``."""
        body = self.get(target, path, **query)
        try:
            return json.loads(body)
        except ValueError:
            raise FsiError(Err.OFFLINE, "qBittorrent's Web API answered %s with something that "
                           "is not JSON: %r" % (path, body[:80])) from None

    def get(self, target: WebApiTarget, path: str, **query: Any) -> bytes:
        """The body of ``GET path?query`` from ``target``, logged in as needed."""
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        with self._lock:
            if target != self._target:
                self._close()
                self._target = target
            if self._cookie is None:
                self._login(target)
            reply = self._request(target, "GET", url)
            if reply.status == 403:  # the session expired, or qBittorrent was restarted
                self._login(target)
                reply = self._request(target, "GET", url)
            if reply.status != 200:
                raise FsiError(Err.OFFLINE, "qBittorrent's Web API answered %s with HTTP %d: %s"
                               % (path, reply.status, _quote(reply.body)))
            return reply.body

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._cookie = None

    def _login(self, target: WebApiTarget) -> None:
        if self._refusal is not None and self._refusal[0] == target:
            raise FsiError(Err.OFFLINE, self._refusal[1])
        self._cookie = None
        form = urllib.parse.urlencode({"username": target.username,
                                       "password": target.password}).encode()
        reply = self._request(target, "POST", LOGIN_PATH, form,
                              {"Content-Type": "application/x-www-form-urlencoded"})
        if reply.body.strip() == b"Fails.":  # told by the body, whatever the status
            refusal = ("qBittorrent refused the plugin's Web UI credentials (user %r): were "
                       "they changed in qBittorrent's own settings? A restart applies the "
                       "plugin's credentials again" % target.username)
            self._refusal = (target, refusal)
            raise FsiError(Err.OFFLINE, refusal)
        if reply.status == 403:
            # Not remembered: a banned login does not count as a failure, and the ban ends.
            raise FsiError(Err.OFFLINE, "qBittorrent refuses logins from %s for now: %s"
                           % (self.host, _quote(reply.body)))
        if not 200 <= reply.status < 300:
            raise FsiError(Err.OFFLINE, "qBittorrent's Web API answered its login with HTTP %d: "
                           "%s" % (reply.status, _quote(reply.body)))
        self._refusal = None
        # Empty when qBittorrent set no cookie: it needs none (its login bypass for localhost).
        self._cookie = _cookie_header(reply.set_cookies)

    def _request(self, target: WebApiTarget, method: str, url: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> "_Reply":
        headers = dict(headers or {})
        if self._cookie:
            headers["Cookie"] = self._cookie
        for _ in range(2):
            reused = self._connection is not None
            connection = self._connection or http.client.HTTPConnection(
                self.host, target.port, timeout=self.timeout)
            self._connection = connection
            try:
                connection.request(method, url, body, headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._connection = None
                # A kept-alive connection qBittorrent closed while idle: once more, anew.
                if reused and not isinstance(exc, TimeoutError):
                    continue
                raise FsiError(Err.OFFLINE, "qBittorrent's Web API on port %d does not answer: "
                               "%s" % (target.port, self._describe(exc))) from None
            if response.will_close:
                connection.close()
                self._connection = None
            return _Reply(response.status, data, response.headers.get_all("Set-Cookie") or [])
        raise AssertionError("unreachable: a fresh connection answers or raises")

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return "no answer within %g s" % self.timeout
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _Reply(NamedTuple):
    status: int
    body: bytes
    set_cookies: list[str]


def _cookie_header(set_cookies: list[str]) -> str:
    """``name=value`` pairs of the cookies a response set, as a ``Cookie`` header sends them."""
    jar: SimpleCookie = SimpleCookie()
    for line in set_cookies:
        try:
            jar.load(line)
        except CookieError:
            continue
    return "; ".join("%s=%s" % (name, morsel.coded_value) for name, morsel in jar.items())


def _quote(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= 120 else text[:117] + "...")

