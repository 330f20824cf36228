"""The real app and web server in this process, with a Dummy qBittorrent service.

For tests that throw many requests: the waitress server of ``plugin.server``
runs in a thread on 127.0.0.1:0; authentication is the real one (scrypt
file in a temp dir); only supervisord and qBittorrent are replaced by
:class:`DummyService`, which records what it was asked to do.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path
from typing import Any

from waitress import wasyncore

from plugin.auth import Authenticator, PasswordFile
from plugin.commands import CommandTable
from plugin.server import create_server
from plugin.settings import Settings
from plugin.stats import COUNTS
from plugin.web import ENDPOINT, create_app

PASSWORD = "local-password"


class DummyService:
    """Stands in for QbittorrentService: a state and a log of what changed it."""

    def __init__(self) -> None:
        self.port = 8080
        self.running = False
        self.changes: list[tuple[str, int | None]] = []

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "state": "running" if self.running else "stopped",
                "pid": 4242 if self.running else None, "port": self.port, "uptime": 0}

    def stats(self) -> dict[str, Any]:
        if not self.running:
            return {"running": False}
        counts = dict.fromkeys(COUNTS, 0)
        return {"running": True, "download_speed": 0, "upload_speed": 0, "downloaded": 0,
                "uploaded": 0, "torrents": counts, "free_space": None, "save_path": "/srv",
                "connection_status": "firewalled", "dht_nodes": 0}

    def start(self, port: int | None = None) -> dict[str, Any]:
        self.changes.append(("start", port))
        self.port = port or self.port
        self.running = True
        return self.status()

    def restart(self) -> dict[str, Any]:
        return self.start(None)

    def stop(self, wait: float | None = None) -> dict[str, Any]:
        self.changes.append(("stop", None))
        self.running = False
        return self.status()


class LocalServer:
    def __init__(self, home: Path, idle: float = 600, lifetime: float = 3600,
                 service: Any = None, **settings: Any) -> None:
        """``settings``: more ``Settings`` fields, e.g. the web server's."""
        passwords = PasswordFile(home / "auth.json")
        passwords.set(PASSWORD)
        self.service = service or DummyService()
        self.auth = Authenticator(passwords, idle, lifetime, Settings.lockout_window)
        commands = CommandTable(self.service, self.auth)  # type: ignore[arg-type]
        served = Settings(home=home, host="127.0.0.1", port=0, threads=4, **settings)
        self.server = create_server(create_app(served, commands), served)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        self.server.task_dispatcher.shutdown()
        # Its sockets are closed in the server's own thread: closed from here,
        # one may go while that thread's select() waits on it (EBADF there).
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(10)

    def request(self, method: str, body: bytes = b"", path: str = ENDPOINT,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on a kept-alive connection (reopened if the server closed it)."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.connection.close()
                self.connection = None
            return response.status, dict(response.getheaders()), data
        raise AssertionError("unreachable")

    def post_raw(self, body: bytes, content_type: str = "application/json"
                 ) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", body, headers={"Content-Type": content_type})

    def post(self, payload: Any) -> dict[str, Any]:
        return json.loads(self.post_raw(json.dumps(payload).encode())[2])

    def login(self) -> str:
        answer = self.post({"cmd": "login", "params": {"username": "admin",
                                                       "password": PASSWORD}})
        return answer["results"]["token"]

    def send_bytes(self, data: bytes) -> bytes:
        """Raw bytes on a fresh connection (for malformed HTTP); all that comes back."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


#: The answer headers, spelled out here so that a change in the plugin shows up.
SECURITY_HEADERS = {"Content-Type": "application/json; charset=utf-8",
                    "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def fsi(answer: tuple[int, dict[str, str], bytes]) -> dict:
    """The JSON of an FSI answer, after checking its status and headers."""
    status, headers, body = answer
    assert status == 200
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    return json.loads(body)
