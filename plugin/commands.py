"""The FSI commands: their parameters, who may call them, what they answer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from plugin import diagnostics
from plugin.auth import Authenticator
from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.protocol import FsiRequest
from plugin.qbt_profile import profile_log, validate_credentials


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


def validate_port(value: Any) -> int:
    """A Web UI port from JSON: an integer 1..65535, nothing else (no bools, floats, strings)."""
    if type(value) is not int or not 1 <= value <= 65535:
        raise FsiError(Err.PARAMS, "port must be an integer from 1 to 65535, got %s"
                       % _describe(value))
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _wait_param(call: Call) -> float | None:
    wait = call.params.get("wait")
    if wait is None:
        return None
    if type(wait) not in (int, float) or not 0 <= wait <= 18:
        raise FsiError(Err.PARAMS, "wait must be a number of seconds from 0 to 18")
    return float(wait)


class CommandTable:
    """Maps ``cmd`` names to handlers; everything but ``login`` needs a token."""

    PUBLIC = frozenset({"login"})

    def __init__(self, service: QbittorrentService, auth: Authenticator) -> None:
        self.service = service
        self.auth = auth
        self.handlers: dict[str, Handler] = {
            "login": self.login,
            "logout": self.logout,
            "start": self.start,
            "stop": self.stop,
            "restart": self.restart,
            "status": self.status,
            "log": self.log,
            "version": self.version,
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
        return self.auth.login(call.params.get("username"), call.params.get("password"),
                               call.address)

    def logout(self, call: Call) -> None:
        _accept_params(call)
        self.auth.logout(call.request.token)

    def start(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "port")
        # An absent port means "the configured one"; an explicit null is an error.
        port = validate_port(call.params["port"]) if "port" in call.params else None
        return self._with_url(self.service.start(port), call)

    def stop(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "wait")
        return self._with_url(self.service.stop(_wait_param(call)), call)

    def restart(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self._with_url(self.service.restart(), call)

    def status(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self._with_url(self.service.status(), call)

    def log(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "lines", "source")
        lines = diagnostics.validate_lines(call.params.get("lines"))
        source = diagnostics.validate_source(call.params.get("source"))
        if source == "qbittorrent":
            text = diagnostics.tail_file(profile_log(self.service.settings.profile), lines)
        else:
            text = diagnostics.tail_output(self.service.client, self.service.name, source, lines)
        return {"source": source, "lines": text}

    def version(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return diagnostics.versions(self.service.client)

    def webui_credentials(self, call: Call) -> dict[str, Any]:
        _accept_params(call)
        return self.service.webui.get()

    def set_webui_credentials(self, call: Call) -> dict[str, Any]:
        _accept_params(call, "username", "password")
        username, password = validate_credentials(call.params.get("username"),
                                                  call.params.get("password"))
        running = self.service.status()["running"]
        self.service.webui.set(username, password)
        return {"username": username, "applied": False, "restart_required": running,
                "note": "applied at the next start%s" % (": use restart" if running else "")}

    @staticmethod
    def _with_url(status: dict[str, Any], call: Call) -> dict[str, Any]:
        """Add the Web UI address as the caller's browser would reach it."""
        if status.get("port"):
            host = call.host or "127.0.0.1"
            if ":" in host and not host.startswith("["):
                host = "[%s]" % host
            status["webui_url"] = "http://%s:%d/" % (host, status["port"])
        else:
            status["webui_url"] = None
        return status
