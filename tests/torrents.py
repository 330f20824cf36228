"""Torrents made locally for tests (trackerless, private, of a file written beside them
or of data that exists nowhere), and qBittorrent's Web API to add them."""
from __future__ import annotations

import hashlib
import http.cookiejar
import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

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
    """A trackerless private single-file torrent of a local file; returns it and its info hash.

    Private: no DHT, PeX or local discovery for it, whatever the profile says.
    """
    data = hashlib.sha256(name.encode()).digest() * (size // 32)
    (directory / name).write_bytes(data)
    pieces = b"".join(hashlib.sha1(data[i:i + PIECE]).digest() for i in range(0, len(data), PIECE))
    return _torrent(name, len(data), pieces)


def dataless_torrent(name: str, size: int = PIECE) -> tuple[bytes, str]:
    """Like :func:`make_torrent`, of data that exists nowhere: added paused, it never transfers.

    Its piece hashes come from the name, so every name has its own info hash.
    """
    pieces = b"".join(hashlib.sha1(b"%s:%d" % (name.encode(), index)).digest()
                      for index in range(-(-size // PIECE)))
    return _torrent(name, size, pieces)


def _torrent(name: str, size: int, pieces: bytes) -> tuple[bytes, str]:
    info = {"name": name, "length": size, "piece length": PIECE, "pieces": pieces,
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
