"""The only code that speaks XML-RPC to supervisord.

The standard library's client over supervisord's unix socket or TCP port:
``supervisor.xmlrpc`` (its own transport and fault table) would bring
supervisor's HTTP server along, 5 MB of a plugin that lives as long as
supervisord. A transport is not thread-safe, so every thread gets its own
proxy (kept in a ``threading.local`` so that the persistent connection to
supervisord is reused across requests on that thread). Each connection has a
socket timeout; note that a client-side timeout does not cancel the action
inside supervisord.
"""
from __future__ import annotations

import base64
import errno
import http.client
import socket
import threading
import urllib.parse
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from plugin.errors import Err, FsiError
from plugin.settings import Settings

__all__ = ["Faults", "Launch", "SupervisorClient", "SupervisorFault", "SupervisordDown"]

#: The RPC that tails each of a process' logs.
_TAIL_METHODS = {"stdout": "tailProcessStdoutLog", "stderr": "tailProcessStderrLog"}


#: Calls that change nothing in supervisord, so sending one twice is harmless.
_SAFE_TO_REPEAT = frozenset("supervisor." + name for name in (
    "getProcessInfo", "getSupervisorVersion", "reloadConfig",
    "tailProcessStdoutLog", "tailProcessStderrLog"))


class Faults:
    """supervisord's fault codes, as ``supervisor.xmlrpc.Faults`` has them (a test compares)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


class SupervisorFault(Exception):
    """supervisord answered with an XML-RPC fault (see :class:`Faults`)."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(code, text)


class SupervisordDown(FsiError):
    """Nothing listens at supervisord's address (no socket, or refused): it is not running."""


@dataclass(frozen=True)
class Launch:
    """What one :meth:`SupervisorClient.launch` round trip answered."""

    #: Why removing or adding the group again failed (harmless answers left out).
    regroup_fault: SupervisorFault | None
    #: Why ``startProcess`` failed, ALREADY_STARTED included.
    start_fault: SupervisorFault | None
    #: The pid supervisord gave the process, None when it has none.
    pid: int | None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _Transport(xmlrpc.client.Transport):
    """HTTP/1.1 to supervisord over ``unix://PATH`` or ``http://HOST:PORT``, with its
    Basic auth, one kept-alive connection, and no request sent twice."""

    def __init__(self, url: str, timeout: float, username: str, password: str) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self._authorization = "Basic " + base64.b64encode(
            ("%s:%s" % (username, password)).encode()).decode() if username else None

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection[1] is None:
            if self.url.startswith("unix://"):
                connection: http.client.HTTPConnection = _UnixConnection(self.url[7:],
                                                                         self.timeout)
            else:
                parsed = urllib.parse.urlsplit(self.url)
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80,
                                                        timeout=self.timeout)
            self._connection = host, connection
        return self._connection[1]

    def send_headers(self, connection: http.client.HTTPConnection,
                     headers: list[tuple[str, str]]) -> None:
        if self._authorization:
            headers = [*headers, ("Authorization", self._authorization)]
        super().send_headers(connection, headers)

    def request(self, host: Any, handler: str, request_body: bytes,
                verbose: bool = False) -> Any:
        # The standard library sends a request again on a dropped connection;
        # SupervisorClient decides that itself (an action must not run twice).
        return self.single_request(host, handler, request_body, verbose)


class SupervisorClient:
    """Calls into supervisord's ``supervisor`` RPC namespace, one proxy per thread."""

    def __init__(self, url: str, timeout: float = 10.0, username: str = "",
                 password: str = "") -> None:
        self.url = url
        self.timeout = timeout
        self._credentials = (username, password)
        self._local = threading.local()

    @classmethod
    def for_settings(cls, settings: Settings) -> "SupervisorClient":
        return cls(settings.supervisor_url, settings.rpc_timeout, settings.supervisor_username,
                   settings.supervisor_password)

    def _proxy(self) -> Any:
        proxy = getattr(self._local, "proxy", None)
        if proxy is None:
            transport = _Transport(self.url, self.timeout, *self._credentials)
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1/RPC2", transport=transport)
            self._local.proxy = proxy
            self._local.transport = transport
        return proxy

    def _drop(self) -> None:
        transport = getattr(self._local, "transport", None)
        if transport is not None:
            transport.close()
        self._local.proxy = self._local.transport = None

    def _method(self, method: str, *args: Any) -> Any:
        """Call ``supervisor.<method>``; faults raise SupervisorFault, I/O raises FsiError."""
        return self._call("supervisor." + method, *args)

    def _multicall(self, *calls: tuple[Any, ...]) -> list[Any]:
        """Several ``supervisor.*`` calls in one round trip, run in order.

        Each result is the call's value or, when that call failed, a
        SupervisorFault (the calls after it still run).
        """
        results = self._call("system.multicall", [
            {"methodName": "supervisor." + method, "params": list(args)}
            for method, *args in calls])
        return [SupervisorFault(r["faultCode"], r["faultString"])
                if isinstance(r, dict) and "faultCode" in r else r for r in results]

    def _call(self, path: str, *args: Any) -> Any:
        namespace, method = path.split(".")
        for attempt in (1, 2):
            try:
                return getattr(getattr(self._proxy(), namespace), method)(*args)
            except xmlrpc.client.Fault as fault:
                raise SupervisorFault(fault.faultCode, fault.faultString) from None
            except socket.timeout:
                self._drop()
                raise FsiError(Err.TIMEOUT, "supervisord did not answer %s within %gs"
                               % (path, self.timeout)) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection closed by supervisord (restart): retry a
                # read once on a fresh one. An action is not sent twice, as
                # supervisord may have carried it out before closing; lifecycle
                # commands read the state first, which renews the connection.
                self._drop()
                if attempt == 2 or path not in _SAFE_TO_REPEAT:
                    raise FsiError(Err.SERVER_OFFLINE, "supervisord closed the connection") from None
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
                self._drop()
                error = SupervisordDown if _nobody_listens(exc) else FsiError
                raise error(Err.SERVER_OFFLINE, _offline_reason(self.url, exc)) from None
        raise AssertionError("unreachable")

    # The calls the plugin needs, named for what they do.

    def process_info(self, name: str) -> dict[str, Any]:
        return self._method("getProcessInfo", name)

    def start_process(self, name: str) -> None:
        self._method("startProcess", name, False)

    def stop_process(self, name: str) -> None:
        self._method("stopProcess", name, False)

    def kill_process(self, name: str) -> None:
        """SIGKILL the process, also while it is stopping (supervisord's ``signalProcess``)."""
        self._method("signalProcess", name, "KILL")

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read the config files (as ``supervisorctl reread``): added, changed, removed."""
        added, changed, removed = self._method("reloadConfig")[0]
        return added, changed, removed

    def tail_log(self, name: str, channel: str, length: int) -> tuple[str, int]:
        """The last ``length`` bytes of a process' ``stdout``/``stderr`` log, and its size."""
        text, size, _ = self._method(_TAIL_METHODS[channel], name, 0, length)
        return text, size

    def supervisor_version(self) -> str:
        return self._method("getSupervisorVersion")

    def remove_group(self, name: str) -> None:
        """Stop a group's processes and forget the group (as ``supervisorctl update`` does
        for a removed one)."""
        self._multicall(("stopProcessGroup", name, True), ("removeProcessGroup", name))

    def config_info(self, name: str) -> dict[str, Any]:
        """The process' config as supervisord last parsed it ({} when it has none)."""
        return next((config for config in self._method("getAllConfigInfo")
                     if config["name"] == name), {})

    def launch(self, name: str, regroup: bool = False) -> Launch:
        """Start a process and read its pid, in one round trip.

        With ``regroup`` its group is first removed and added again, as
        ``supervisorctl update`` does, so that a re-read config takes effect.
        """
        calls: list[tuple[Any, ...]] = []
        if regroup:
            calls += [("removeProcessGroup", name), ("addProcessGroup", name)]
        calls += [("startProcess", name, False), ("getProcessInfo", name)]
        results = self._multicall(*calls)
        regroup_fault = None
        if regroup:
            # Not there to remove, or added already: what the calls were for holds.
            for result, harmless in zip(results, (Faults.BAD_NAME, Faults.ALREADY_ADDED)):
                if isinstance(result, SupervisorFault) and result.code != harmless:
                    regroup_fault = regroup_fault or result
        started, info = results[-2:]
        return Launch(regroup_fault=regroup_fault,
                      start_fault=started if isinstance(started, SupervisorFault) else None,
                      pid=None if isinstance(info, SupervisorFault) else info["pid"] or None)


def _nobody_listens(exc: Exception) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ECONNREFUSED)


def _offline_reason(url: str, exc: Exception) -> str:
    if _nobody_listens(exc):
        return "supervisord is not running (no listener at %s)" % url
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return "no permission to use the supervisord socket %s" % url
    if isinstance(exc, xmlrpc.client.ProtocolError) and exc.errcode == 401:
        return ("supervisord at %s wants a username and password: set "
                "FSI_SUPERVISOR_USERNAME and FSI_SUPERVISOR_PASSWORD" % url)
    return "supervisord is not reachable at %s: %s" % (url, exc)
