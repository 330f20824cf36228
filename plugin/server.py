"""Serving the app with waitress, whose own refusals answer FSI JSON too.

waitress answers some requests itself before the app sees them: a body of
``max_request_body_size`` or more (413), malformed HTTP (400), oversized
headers (431). Its plain-text pages would reach a jQuery caller as a
transport failure, so the channel's error task is replaced by one that
answers like the endpoint (HTTP 200, FSI JSON, 9972 with waitress' reason)
and then closes the connection as waitress would.
"""
from __future__ import annotations

from typing import Any

import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask

from plugin.errors import Err, FsiError
from plugin.protocol import ANSWER_HEADERS, encode_error

#: Bodies up to this size are read by waitress and refused by the app (over
#: 64 KiB: 9972) on a connection that stays usable. Larger ones are refused
#: by waitress unread (still FSI JSON, but the connection closes and a client
#: still sending may see a reset instead). Beyond 512 KiB waitress buffers in
#: a temporary file, so this bounds the disk a single request can fill.
WAITRESS_MAX_BODY = 16 * 1024 * 1024


class FsiErrorTask(ErrorTask):
    """waitress' error answer, as FSI JSON with HTTP 200."""

    def execute(self) -> None:
        error = self.request.error
        body = encode_error(FsiError(Err.REQUEST_FAILED, "request refused by the web "
                                     "server: %s (%s)" % (error.reason, error.body)))
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


def create_server(app: Any, host: str, port: int, threads: int
                  ) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for ``app`` on ``host:port`` (port 0: any free one)."""
    server = waitress.create_server(app, host=host, port=port, threads=threads,
                                    ident="qbittorrent-fsi",
                                    max_request_body_size=WAITRESS_MAX_BODY,
                                    # waitress 3's default, which waitress 2 only warns about:
                                    # X-Forwarded-* from an untrusted client never reach the app.
                                    clear_untrusted_proxy_headers=True)
    # A host name that resolves to several addresses gives a MultiSocketServer:
    # every listening server must answer its refusals as FSI JSON.
    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = FsiChannel
    return server
