"""The FSI commands: their parameters, who may call them, what they answer.

This is the one layer that knows FSI parameter names and checks their
values; below it every function takes plain, checked Python values. Adding
a command is one method here (listed in ``handlers``) and, when it needs
one, one method of the service.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from plugin.auth import Authenticator
from plugin.backup_service import BackupService
from plugin.backups import parse_name
from plugin.errors import Err, FsiError
from plugin.hostnames import url_host
from plugin.lifecycle import QbittorrentService
from plugin.protocol import FsiRequest
from plugin.qbt_profile import PASSWORD_LENGTH, USERNAME_PATTERN

MAX_LOG_LINES = 1000
DEFAULT_LOG_LINES = 100
#: ``log`` sources: qBittorrent's own log file, or what supervisord captured.
LOG_SOURCES = ("qbittorrent", "stdout", "stderr")
#: The longest ``stop`` wait: a NAS page's request times out soon after.
MAX_STOP_WAIT = 18


@dataclass(frozen=True)
class Call:
    """One FSI request with what the web layer knows about its sender."""

    request: FsiRequest
    address: str
    host: str

    @property
    def params(self) -> dict[str, Any]:
        return self.request.params


Handler = Callable[[Call], "dict[str, Any] | None"]


def _accept_params(call: Call, *names: str) -> None:
    unknown = sorted(set(call.params) - set(names))
    if unknown:
        raise FsiError(Err.PARAMS, "unknown parameter(s) for %s: %s"
                       % (call.request.cmd, ", ".join(unknown)))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_port(value: Any) -> int:
    """A Web UI port from JSON: an integer 1..65535, nothing else (no bools, floats, strings)."""
    if type(value) is not int or not 1 <= value <= 65535:
        raise FsiError(Err.PARAMS, "port must be an integer from 1 to 65535, got %s"
                       % _describe(value))
    return value


def validate_wait(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 <= value <= MAX_STOP_WAIT:
        raise FsiError(Err.PARAMS, "wait must be a number of seconds from 0 to %d"
                       % MAX_STOP_WAIT)
    return float(value)


def validate_lines(value: Any) -> int:
    if value is None:
        return DEFAULT_LOG_LINES
    if type(value) is not int or not 1 <= value <= MAX_LOG_LINES:
        raise FsiError(Err.PARAMS, "lines must be an integer from 1 to %d" % MAX_LOG_LINES)
    return value


def validate_source(value: Any) -> str:
    if value is None:
        return LOG_SOURCES[0]
    if value not in LOG_SOURCES:
        raise FsiError(Err.PARAMS, "source must be one of: %s" % ", ".join(LOG_SOURCES))
    return value


def validate_login(username: Any, password: Any) -> tuple[str, str]:
    if not isinstance(username, str) or not isinstance(password, str):
        raise FsiError(Err.NO_INPUT if username is None or password is None else Err.PARAMS,
                       "login needs params.username and params.password as strings")
    return username, password


def validate_credentials(username: Any, password: Any) -> tuple[str, str]:
    """Web UI credentials qBittorrent accepts, or FsiError 9997/9995."""
    if username is None or password is None:
        raise FsiError(Err.NO_INPUT, "set_webui_credentials needs params.username and "
                       "params.password")
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise FsiError(Err.PARAMS, "username must be 3 to 64 characters of A-Z a-z 0-9 . _ @ -")
    low, high = PASSWORD_LENGTH
    if (not isinstance(password, str) or not low <= len(password) <= high
            or any(ord(c) < 32 or ord(c) == 127 for c in password)):
        raise FsiError(Err.PARAMS, "password must be %d to %d characters, no control "
                       "characters" % (low, high))
    return username, password


def validate_backup_name(value: Any) -> str:
    """The name of a backup as ``backups`` lists it; nothing else (no path, no extension)."""
    if value is None:
        raise FsiError(Err.NO_INPUT, "params.name is needed: a name that backups lists")
    if parse_name(value) is None:
        raise FsiError(Err.PARAMS, "name must be a backup's name as backups lists it, such as "
                       "manual-20261125-140849-000000, got %s" % _describe(value))
    return value


class CommandTable:
    """Maps ``cmd`` names to handlers; everything but ``login`` needs a token."""

    PUBLIC = frozenset({"login"})

    def __init__(self, service: QbittorrentService, auth: Authenticator,
                 backups: BackupService | None = None) -> None:
        self.service = service
        self.auth = auth
        self.backup_service = backups
        self.handlers: dict[str, Handler] = {
            "login": self.login,
            "logout": self.logout,
            "start": self.start,
            "stop": self.stop,
            "restart": self.restart,
            "status": self.status,
            "stats": self.stats,
            "log": self.log,
            "version": self.version,
            "backup": self.backup,
            "backups": self.backups,
            "restore": self.restore,
            "delete_backup": self.delete_backup,
            "webui_credentials": self.webui_credentials,
            "set_webui_credentials": self.set_webui_credentials,
        }

    def dispatch(self, call: Call) -> dict[str, Any] | None:
        handler = self.handlers.get(call.request.cmd)
        if handler is None:
            raise FsiError(Err.REQUEST_FAILED, "unknown command %r (known: %s)"
                           % (call.request.cmd, ", ".join(sorted(self.handlers))))
        if call.request.cmd not in self.PUBLIC:
            self.auth.check(call.request.token)
        return handler(call)

    def login(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "username", "password")
        username, password = validate_login(call.params.get("username"),
                                            call.params.get("password"))
        return self.auth.login(username, password, call.address)

    def logout(self, call: Call) -> None:
        _accept_params(call)
        self.auth.logout(call.request.token)

    def start(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "port")
        # An absent port means "the configured one"; an explicit null is an error.
        port = validate_port(call.params["port"]) if "port" in call.params else None
        return self._with_url(call, self.service.start, port)

    def stop(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "wait")
        return self._with_url(call, self.service.stop, validate_wait(call.params.get("wait")))

    def restart(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self._with_url(call, self.service.restart)

    def status(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self._with_url(call, self.service.status)

    def stats(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self.service.stats()

    def log(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "lines", "source")
        lines = validate_lines(call.params.get("lines"))
        source = validate_source(call.params.get("source"))
        return {"source": source, "lines": self.service.log_tail(source, lines)}

    def version(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self.service.versions()

    # -- backups ---------------------------------------------------------

    def backup(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self._backups().backup()

    def backups(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return {"records": self._backups().list_backups()}

    def restore(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "name")
        name = validate_backup_name(call.params.get("name"))
        return self._with_url(call, self._backups().restore, name)

    def delete_backup(self, call: Call) -> None:
        _accept_params(call, "name")
        self._backups().delete_backup(validate_backup_name(call.params.get("name")))

    def _backups(self) -> BackupService:
        if self.backup_service is None:
            raise FsiError(Err.INCOMPATIBLE, "this plugin keeps no backups")
        return self.backup_service

    def webui_credentials(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self.service.webui_credentials()

    def set_webui_credentials(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "username", "password")
        username, password = validate_credentials(call.params.get("username"),
                                                  call.params.get("password"))
        return self.service.set_webui_credentials(username, password)

    @staticmethod
    def _with_url(call: Call, action: Callable[..., dict[str, Any]],
                  *args: Any) -> dict[str, Any]:
        """The status ``action`` answers, failed or not, with the Web UI address added."""
        try:
            return _add_webui_url(action(*args), call.host)
        except FsiError as error:
            if error.results is not None and "port" in error.results:
                _add_webui_url(error.results, call.host)
            raise


def _add_webui_url(status: dict[str, Any], host: str) -> dict[str, Any]:
    """The Web UI address as the caller's browser would reach it (null without a port).

    The host comes from the request's ``Host`` header, so only a DNS name or
    an IP literal is used: anything else never reaches a page as a link.
    """
    link_host = url_host(host or "127.0.0.1")
    if status.get("port") and link_host is not None:
        status["webui_url"] = "http://%s:%d/" % (link_host, status["port"])
    else:
        status["webui_url"] = None
    return status
