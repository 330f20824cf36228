"""Serving an app under test on a real loopback socket (waitress, port 0)."""
from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from typing import Any, Iterator

import waitress.server


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """Run ``app`` with waitress on 127.0.0.1:0; yield its base URL."""
    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%s" % server.effective_port
    finally:
        server.close()
        thread.join(5)


def post(url: str, body: bytes | str | dict, content_type: str = "application/json",
         method: str = "POST") -> tuple[int, dict[str, str], Any]:
    """Send ``body`` and return status, headers and the decoded JSON answer."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    request = urllib.request.Request(url, data=body if method == "POST" else None,
                                     method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), json.loads(response.read())
