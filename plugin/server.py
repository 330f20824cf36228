"""Serving the app with waitress, whose own refusals answer FSI JSON too.

waitress answers some requests itself before the app sees them: a body of
``max_request_body_size`` or more (413), malformed HTTP (400), oversized
headers (431), a malformed X-Forwarded-* header from the trusted proxy (400).
Its plain-text pages would reach a jQuery caller as a transport failure, so
the channel's error task is replaced by one that answers like the endpoint
(HTTP 200, FSI JSON, 9972 with waitress' reason) and then closes the
connection as waitress would; the proxy headers are checked before waitress'
own check for the same reason.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import waitress
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.proxy_headers import MalformedProxyHeader, parse_proxy_headers
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask
from waitress.utilities import BadRequest, Error

from plugin.errors import Err, FsiError
from plugin.protocol import ANSWER_HEADERS, encode_error
from plugin.settings import Settings

#: Bodies up to this size are read by waitress and refused by the app (over
#: 64 KiB: 9972) on a connection that stays usable. Larger ones are refused
#: by waitress unread (still FSI JSON, but the connection closes and a client
#: still sending may see a reset instead). Beyond 512 KiB waitress buffers in
#: a temporary file, so this bounds the disk a single request can fill.
WAITRESS_MAX_BODY = 16 * 1024 * 1024


def _refusal(error: Error) -> bytes:
    return encode_error(FsiError(Err.REQUEST_FAILED, "request refused by the web "
                                 "server: %s (%s)" % (error.reason, error.body)))


class FsiErrorTask(ErrorTask):
    """waitress' error answer, as FSI JSON with HTTP 200."""

    def execute(self) -> None:
        body = _refusal(self.request.error)
        self.status = "200 OK"
        self.response_headers.extend(ANSWER_HEADERS.items())
        # What waitress' own error answer does; spelled out because waitress 2
        # (Debian 12's) has no Task.set_close_on_finish.
        self.response_headers.append(("Connection", "close"))
        self.close_on_finish = True
        self.content_length = len(body)
        self.write(body)


class StrictRequestParser(HTTPRequestParser):
    """waitress' parser, refusing a request line it cannot read as waitress 3 does (400).

    waitress 2 (Debian 12's) passes such a line on as a request with no
    method and no path, which the app could only call a wrong method.
    """

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if not self.command:
            raise ParsingError("Start line is invalid")


class FsiChannel(HTTPChannel):
    parser_class = StrictRequestParser
    error_task_class = FsiErrorTask


def _proxy_refusals_as_fsi(app: Any, adj: Adjustments) -> Callable[..., Iterable[bytes]]:
    """``app``, waitress' proxy-header step before the plugin, with its refusals as FSI JSON.

    That step answers a malformed X-Forwarded-* header from the trusted proxy
    in plain text; its own parser, run here first on a copy of the request,
    finds exactly those headers.
    """

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        if environ["REMOTE_ADDR"] == adj.trusted_proxy:
            try:
                parse_proxy_headers(dict(environ), adj.trusted_proxy_count,
                                    adj.trusted_proxy_headers)
            except MalformedProxyHeader as exc:
                body = _refusal(BadRequest('Header "%s" malformed.' % exc.header))
                start_response("200 OK", [*ANSWER_HEADERS.items(),
                                          ("Content-Length", str(len(body)))])
                return [body]
        return app(environ, start_response)

    return application


def _proxy_adjustments(settings: Settings) -> dict[str, Any]:
    """waitress' trusted-proxy adjustments; none without a proxy (its headers are then dropped)."""
    if not settings.trusted_proxy:
        return {}
    # One proxy (the NAS web server): the last X-Forwarded-For entry is the
    # client it saw; entries before it are whatever the client sent.
    return {"trusted_proxy": settings.trusted_proxy, "trusted_proxy_count": 1,
            "trusted_proxy_headers": settings.trusted_proxy_headers}


def create_server(app: Any, settings: Settings) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for ``app`` on the settings' host and port (port 0: any free one)."""
    server = waitress.create_server(
        app, host=settings.host, port=settings.port, threads=settings.threads,
        ident="qbittorrent-fsi", max_request_body_size=WAITRESS_MAX_BODY,
        connection_limit=settings.connection_limit,
        channel_timeout=settings.channel_timeout,
        cleanup_interval=settings.cleanup_interval,
        max_request_header_size=settings.max_header_size,
        # waitress 3's default, which waitress 2 only warns about: X-Forwarded-*
        # from an untrusted client never reach the app.
        clear_untrusted_proxy_headers=True, **_proxy_adjustments(settings))
    # A host name that resolves to several addresses gives a MultiSocketServer:
    # every listening server must answer its refusals as FSI JSON.
    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = FsiChannel
        listener.application = _proxy_refusals_as_fsi(listener.application, listener.adj)
    return server
