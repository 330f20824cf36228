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
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask

from plugin.errors import Err, FsiError
from plugin.protocol import ANSWER_HEADERS, encode_error
from plugin.settings import Settings

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
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class FsiChannel(HTTPChannel):
    error_task_class = FsiErrorTask


def create_server(app: Any, settings: Settings) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for ``app`` on the settings' host and port (port 0: any free one)."""
    server = waitress.create_server(
        app, host=settings.host, port=settings.port, threads=settings.threads,
        ident="qbittorrent-fsi", max_request_body_size=WAITRESS_MAX_BODY,
        connection_limit=settings.connection_limit,
        channel_timeout=settings.channel_timeout,
        cleanup_interval=settings.cleanup_interval,
        max_request_header_size=settings.max_header_size)
    # A host name that resolves to several addresses gives a MultiSocketServer:
    # every listening server must answer its refusals as FSI JSON.
    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = FsiChannel
    return server
