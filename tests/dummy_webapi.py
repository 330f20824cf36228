"""A Dummy qBittorrent Web API on a real socket (127.0.0.1:0), for the stats client's tests.

It speaks just enough of qBittorrent's protocol: ``auth/login`` sets a
``SID`` cookie (``Fails.`` for a wrong password, 403 while banned), every
other path answers 403 without a live session, and ``sync/maindata`` keeps
a snapshot per session and answers a known ``rid`` with only what changed,
as qBittorrent does. Everything asked is recorded.
"""
from __future__ import annotations

import copy
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

SERVER_STATE = {"dl_info_speed": 0, "up_info_speed": 0, "dl_info_data": 0, "up_info_data": 0,
                "free_space_on_disk": 5_000_000_000, "connection_status": "firewalled",
                "dht_nodes": 0, "queueing": True, "refresh_interval": 1500}


class DummyWebApi:
    def __init__(self, username: str = "admin", password: str = "secret-password") -> None:
        self.username = username
        self.password = password
        self.banned = False
        self.save_path = "/srv/downloads"
        self.torrents: dict[str, dict[str, Any]] = {}
        self.server_state = dict(SERVER_STATE)
        #: ``(path, sid or None, client port)`` of every request, logins included.
        self.requests: list[tuple[str, str | None, int]] = []
        self.logins = 0
        #: Requested ``rid`` of every sync/maindata call.
        self.rids: list[int] = []
        #: Called (in the server's thread) before sync/maindata answers.
        self.before_maindata: Callable[[], None] = lambda: None
        #: Closes each connection after its answer without saying so first.
        self.drop_connections = False
        self._sessions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)

    def add(self, torrent_hash: str, state: str) -> None:
        self.torrents[torrent_hash] = {"name": torrent_hash, "state": state, "size": 1}

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    @property
    def maindata_calls(self) -> int:
        return len(self.rids)

    # -- the protocol ------------------------------------------------------------

    def _maindata(self, session: dict[str, Any], rid: int) -> dict[str, Any]:
        now = {"torrents": copy.deepcopy(self.torrents), "server_state": dict(self.server_state)}
        last = session.get("last")
        if last is None or rid != last["rid"]:
            answer: dict[str, Any] = {**copy.deepcopy(now), "full_update": True}
        else:
            answer = {}
            changed = {h: {k: v for k, v in t.items() if last["torrents"].get(h, {}).get(k) != v}
                       for h, t in now["torrents"].items()}
            if any(changed.values()):
                answer["torrents"] = {h: c for h, c in changed.items() if c}
            removed = [h for h in last["torrents"] if h not in now["torrents"]]
            if removed:
                answer["torrents_removed"] = removed
            state = {k: v for k, v in now["server_state"].items()
                     if last["server_state"].get(k) != v}
            if state:
                answer["server_state"] = state
        session["rid"] = session.get("rid", 0) + 1
        session["last"] = {**now, "rid": session["rid"]}
        answer["rid"] = session["rid"]
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None
                        ) -> None:
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                if api.drop_connections:
                    self.close_connection = True

            def _sid(self) -> str | None:
                cookie = self.headers.get("Cookie") or ""
                pairs = dict(part.strip().split("=", 1) for part in cookie.split(";")
                             if "=" in part)
                return pairs.get("SID")

            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                form = urllib.parse.parse_qs(self.rfile.read(
                    int(self.headers.get("Content-Length") or 0)).decode())
                api.requests.append((url.path, self._sid(), self.client_address[1]))
                if url.path != "/api/v2/auth/login":
                    return self._answer(404, b"Not Found")
                api.logins += 1
                if api.banned:
                    return self._answer(403, b"Your IP address has been banned after too many "
                                             b"failed authentication attempts.")
                if (form.get("username") != [api.username]
                        or form.get("password") != [api.password]):
                    return self._answer(200, b"Fails.")
                sid = secrets.token_urlsafe(24)
                with api._lock:
                    api._sessions[sid] = {}
                self._answer(200, b"Ok.", {"Set-Cookie": "SID=%s; HttpOnly; path=/; "
                                                         "SameSite=Strict" % sid})

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                sid = self._sid()
                api.requests.append((url.path, sid, self.client_address[1]))
                with api._lock:
                    session = api._sessions.get(sid or "")
                if session is None:
                    return self._answer(403, b"Forbidden")
                if url.path == "/api/v2/app/defaultSavePath":
                    return self._answer(200, api.save_path.encode())
                if url.path == "/api/v2/sync/maindata":
                    rid = int(urllib.parse.parse_qs(url.query).get("rid", ["0"])[0])
                    api.rids.append(rid)
                    api.before_maindata()
                    with api._lock:
                        body = json.dumps(api._maindata(session, rid)).encode()
                    return self._answer(200, body, {"Content-Type": "application/json"})
                self._answer(404, b"Not Found")

        return Handler
