"""Unit tests: serving the page, and its language choice."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from plugin.page import STATIC_DIR, choose_language
from plugin.settings import Settings
from plugin.web import create_app


@pytest.mark.parametrize("header, lang", [
    ("", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("zh-TW", "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("de-DE,zh;q=0.5,en;q=0.4", "zh-CN"),
    ("fr, en;q=bogus, zh;q=0.1", "zh-CN"),
    ("zh;q=0.5, en;q=0.5", "zh-CN"),
])
def test_language_comes_from_accept_language(header, lang):
    assert choose_language(header) == lang


class DummyCommands:
    def dispatch(self, call):
        return {"cmd": call.request.cmd}


def get(path: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    app = create_app(Settings(home=Path("/nonexistent")), commands=DummyCommands())
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http",
               **{"HTTP_" + k.upper(): v for k, v in headers.items()}}
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=status, headers=dict(response_headers))

    body = b"".join(app(environ, start_response))
    return started["status"], started["headers"], body


def test_the_page_is_served_in_the_readers_language():
    status, headers, body = get("/", accept_language="zh-CN,zh;q=0.9")
    assert status.startswith("200")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert b'<html lang="zh-CN">' in body
    assert b'<html lang="en">' in get("/index.html")[2]


@pytest.mark.parametrize("name, kind", [("page.js", "text/javascript"), ("page.css", "text/css")])
def test_assets_are_served_beside_the_page(name, kind):
    status, headers, body = get("/" + name)
    assert status.startswith("200") and headers["Content-Type"].startswith(kind)
    assert body == (STATIC_DIR / name).read_bytes()


def test_other_paths_stay_fsi_json():
    status, headers, body = get("/static/../../setup.py")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert b'"err":9994' in body


def test_the_page_loads_nothing_from_elsewhere_and_posts_to_a_relative_url():
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r'(src|href)="(?!\./|data:)', html)
    assert "url(" not in (STATIC_DIR / "page.css").read_text()
    script = (STATIC_DIR / "page.js").read_text()
    assert 'const ENDPOINT = "./include/index.php";' in script
    assert "document.cookie" not in script and "localStorage.setItem(\"fsi-token\"" not in script
