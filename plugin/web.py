"""The Bottle app: the FSI endpoint and one error path that always answers FSI JSON.

NAS pages post with jQuery and only look at ``err`` in a 200 answer, so every
FSI outcome, errors included, is HTTP 200 with a JSON body. The body is read
raw whatever the Content-Type says (jQuery often sends form-urlencoded).
"""
from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

import bottle

from plugin.auth import Authenticator, PasswordFile
from plugin.autostart import start_if_chosen
from plugin.backup_service import BackupService
from plugin.commands import Call, CommandTable
from plugin.errors import Err, FsiError
from plugin.hostnames import host_key
from plugin.lifecycle import QbittorrentService
from plugin.page import install_page
from plugin.rpc_client import SupervisorFault
from plugin.protocol import ANSWER_HEADERS, decode_request, encode_answer, encode_error
from plugin.settings import Settings
from plugin.watchdog import start_watchdog

ENDPOINT = "/include/index.php"
MAX_BODY = 64 * 1024

log = logging.getLogger("qbittorrent_fsi")


def _json_response(body: bytes) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(body=body, status=200, headers=ANSWER_HEADERS)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise FsiError(Err.CONTENT, "bad Content-Length header") from None
    if length > MAX_BODY:
        raise _too_large("%d bytes" % length)
    body = environ["wsgi.input"].read(min(length, MAX_BODY) if length else MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise _too_large("more than %d bytes" % MAX_BODY)
    return body


def _too_large(size: str) -> FsiError:
    # 9972 "invalid request": the request is refused as a whole, unread, like a GET.
    return FsiError(Err.REQUEST_FAILED, "request body too large (%s): an FSI request "
                    "has at most %d bytes" % (size, MAX_BODY))


def _caller_host(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _refuse_cross_site(environ: dict[str, Any]) -> None:
    """Refuse a request a browser sends for a page of another origin (9972).

    A foreign page can post FSI JSON as ``text/plain`` without a preflight,
    e.g. wrong logins from the admin's own browser to lock the admin out.
    Browsers name the page's origin in ``Origin`` (or ``Referer``); it must
    be the origin the browser addressed, the ``Host`` this request came to.
    Requests without either header (curl, a NAS back end) are not browsers'.
    """
    source = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
    if source is None:
        return
    page = urllib.parse.urlsplit(source)
    addressed = urllib.parse.urlsplit("//" + environ.get("HTTP_HOST", ""))
    try:
        default = _DEFAULT_PORTS.get(page.scheme)
        same = (default is not None and page.hostname is not None
                and page.hostname == addressed.hostname
                and (page.port or default) == (addressed.port or default))
    except ValueError:  # a port that is not a number
        same = False
    if not same:
        raise FsiError(Err.REQUEST_FAILED, "cross-site request refused: the page at %s is "
                       "not this plugin's page" % source[:100])


def _refuse_unknown_host(host: str, allowed: frozenset[str]) -> None:
    """Refuse a request to a name the admin did not allow (9972), when they listed any.

    A page whose DNS name an attacker points at the NAS (DNS rebinding) is
    of the same origin as the plugin for the browser: only its name, in
    ``Host``, tells it apart.
    """
    if allowed and host_key(host) not in allowed:
        raise FsiError(Err.REQUEST_FAILED, "request refused: the host %r is not one of "
                       "FSI_ALLOWED_HOSTS" % host[:100])


def as_fsi_error(exc: BaseException) -> FsiError:
    """The FSI form of any failure that reached the web layer."""
    if isinstance(exc, FsiError):
        return exc
    if isinstance(exc, SupervisorFault):
        return FsiError(Err.FAILED, "supervisord refused: %s" % exc.text)
    log.error("unexpected error", exc_info=exc)
    return FsiError(Err.SYSTEM, "internal error in the plugin (%s); see its log"
                    % type(exc).__name__)


class FsiBottle(bottle.Bottle):
    """A Bottle app whose every error page is FSI JSON with HTTP 200.

    Bottle calls :meth:`default_error_handler` for unknown paths, wrong
    methods and exceptions that escaped a handler; a jQuery caller only
    reads ``err`` from a 200, never a traceback page.
    """

    def default_error_handler(self, res: bottle.HTTPError) -> bytes:
        if res.status_code == 404:
            fsi = FsiError(Err.NOT_EXISTS, "no such path: commands go to POST %s" % ENDPOINT)
        elif res.exception is None:  # 405 and the like: the request, not the plugin
            fsi = FsiError(Err.REQUEST_FAILED, "%s is not allowed here: commands go to "
                           "POST %s" % (bottle.request.method, ENDPOINT))
        else:
            fsi = as_fsi_error(res.exception)
        bottle.response.status = 200
        for name, value in ANSWER_HEADERS.items():
            bottle.response.set_header(name, value)
        return encode_error(fsi)


def create_app(settings: Settings, commands: CommandTable | None = None) -> bottle.Bottle:
    """Build the plugin's WSGI app; ``commands`` may be injected by tests.

    Without them it drives the real service, and watches it (the watchdog's thread).
    """
    if commands is None:
        auth = Authenticator(PasswordFile(settings.auth_file), settings.token_idle,
                             settings.token_max, settings.lockout_window)
        service = QbittorrentService(settings)
        commands = CommandTable(service, auth, BackupService(service))
        threading.Thread(target=start_if_chosen, args=(service,), name="fsi-autostart",
                         daemon=True).start()
        start_watchdog(service)
    app = FsiBottle()
    allowed_hosts = frozenset(settings.allowed_hosts.split())

    @app.post(ENDPOINT)
    def endpoint() -> bottle.HTTPResponse:
        environ = bottle.request.environ
        try:
            host = _caller_host(environ)
            _refuse_unknown_host(host, allowed_hosts)
            _refuse_cross_site(environ)
            request = decode_request(_read_body(environ), environ.get("CONTENT_TYPE", ""))
            results = commands.dispatch(Call(request, environ.get("REMOTE_ADDR", ""), host))
            body = encode_answer(Err.SUCCEED, "ok", results)
        except Exception as exc:  # a failed command is an FSI answer, not an error page
            body = encode_error(as_fsi_error(exc))
        return _json_response(body)

    install_page(app)
    return app
