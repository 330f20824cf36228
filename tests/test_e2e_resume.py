"""End to end: torrents and their resume data survive a stop through FSI (real qbittorrent-nox)."""
from __future__ import annotations

import hashlib
import http.cookiejar
import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.stack import free_port, wait_for

PIECE = 16384


def bencode(value: Any) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(map(bencode, value)) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"


def make_torrent(directory: Path, name: str, size: int) -> tuple[bytes, str]:
    """A trackerless, private single-file torrent of a local file; returns it and its info hash."""
    data = hashlib.sha256(name.encode()).digest() * (size // 32)
    (directory / name).write_bytes(data)
    pieces = b"".join(hashlib.sha1(data[i:i + PIECE]).digest() for i in range(0, len(data), PIECE))
    info = {"name": name, "length": len(data), "piece length": PIECE, "pieces": pieces,
            "private": 1}
    return bencode({"info": info, "created by": "qbittorrent-fsi tests"}), \
        hashlib.sha1(bencode(info)).hexdigest()


class WebApi:
    """qBittorrent's Web API (v2) on the loopback, with its session cookie."""

    def __init__(self, port: int, credentials: dict[str, str]) -> None:
        self.base = "http://127.0.0.1:%d/api/v2/" % port
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        body = urllib.parse.urlencode({"username": credentials["username"],
                                       "password": credentials["password"]})
        assert self.request("auth/login", body.encode(),
                            "application/x-www-form-urlencoded") == b"Ok."

    def request(self, path: str, body: bytes | None = None, content_type: str = "") -> bytes:
        headers = {"Content-Type": content_type} if content_type else {}
        with self.opener.open(urllib.request.Request(self.base + path, data=body,
                                                     headers=headers), timeout=10) as answer:
            return answer.read()

    def add(self, torrents: list[bytes], save_path: Path) -> None:
        boundary = uuid.uuid4().hex
        parts = [b"--%s\r\nContent-Disposition: form-data; name=\"savepath\"\r\n\r\n%s\r\n"
                 % (boundary.encode(), str(save_path).encode())]
        for index, torrent in enumerate(torrents):
            parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"torrents\"; "
                         b"filename=\"t%d.torrent\"\r\nContent-Type: application/x-bittorrent"
                         b"\r\n\r\n%s\r\n" % (boundary.encode(), index, torrent))
        body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
        assert self.request("torrents/add", body,
                            "multipart/form-data; boundary=%s" % boundary) == b"Ok."

    def hashes(self) -> set[str]:
        return {t["hash"] for t in json.loads(self.request("torrents/info"))}


def test_torrents_and_resume_data_survive_a_stop(stack, tmp_path):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    made = [make_torrent(tmp_path, "file-%d.bin" % i, PIECE * (i + 2)) for i in range(3)]
    hashes = {info_hash for _, info_hash in made}
    credentials = stack.call("webui_credentials")["results"]
    api = WebApi(port, credentials)
    api.add([torrent for torrent, _ in made], tmp_path)
    assert wait_for(lambda: api.hashes() == hashes, timeout=10)

    answer = stack.call("stop")
    assert answer["err"] == 0 and answer["results"]["state"] == "stopped", answer
    backup = stack.home / "profile" / "qBittorrent" / "data" / "BT_backup"
    for info_hash in hashes:
        assert (backup / ("%s.fastresume" % info_hash)).stat().st_size > 0
        assert (backup / ("%s.torrent" % info_hash)).exists()

    assert stack.call("start", port=port)["err"] == 0
    again = WebApi(port, credentials)
    assert wait_for(lambda: again.hashes() == hashes, timeout=10)
