"""A tiny reverse proxy, as a NAS web server forwarding a sub-path to the plugin.

``http://127.0.0.1:<port>/apps/qbittorrent/...`` is forwarded to the plugin
with the prefix stripped; anything else is a 404, so a page that used an
absolute URL would break here.
"""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/apps/qbittorrent"


class SubPathProxy:
    def __init__(self, upstream_port: int) -> None:
        proxy = self
        self.upstream_port = upstream_port
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                proxy.paths.append(self.path)
                if not self.path.startswith(PREFIX + "/"):
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # Host as the browser sent it, as a NAS web server must pass it:
                # the plugin refuses a page whose Origin is not that Host.
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port,
                                                      timeout=60)
                try:
                    upstream.request(self.command, self.path[len(PREFIX):], body or None,
                                     headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding",
                                            "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d%s/" % (self.server.server_address[1], PREFIX)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SubPathProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
