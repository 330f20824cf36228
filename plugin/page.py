"""The plugin's own page at ``/``: static files shipped in the package, nothing external.

The page talks to the FSI endpoint like any NAS front end does; this module
only serves its three files. The HTML names the language picked from
``Accept-Language`` so that the first paint is already in the reader's language.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import bottle

STATIC_DIR = files("plugin") / "static"
# Not app.js: behind the NAS web server the page shares its path with the
# U-NAS app's own files (unas/qbittorrent/), whose app.js is the desktop's.
_FILES = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Everything the page needs comes from the plugin itself.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'self'; object-src 'none'",
}


def choose_language(accept_language: str) -> str:
    """``zh-CN`` when the reader prefers any Chinese over English, else ``en``."""
    best, best_q = "en", 0.0
    for position, item in enumerate(accept_language.split(",")[:32]):
        tag, _, q = item.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        weight -= position * 1e-6  # the earlier of equal weights wins
        primary = tag.strip().lower().split("-")[0]
        if primary in ("zh", "en") and weight > best_q:
            best, best_q = ("zh-CN" if primary == "zh" else "en"), weight
    return best


@lru_cache(maxsize=None)
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def _respond(body: bytes, content_type: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(body=body, headers={**_HEADERS, "Content-Type": content_type})


def install_page(app: bottle.Bottle) -> None:
    """Serve the page at ``/`` (and ``/index.html``) and its assets beside it."""

    @app.get("/")
    @app.get("/index.html")
    def index() -> bottle.HTTPResponse:
        lang = choose_language(bottle.request.headers.get("Accept-Language", ""))
        body = _read("index.html").replace(b"__LANG__", lang.encode())
        return _respond(body, "text/html; charset=utf-8")

    @app.get("/<name:re:page\\.(?:js|css)>")
    def asset(name: str) -> bottle.HTTPResponse:
        return _respond(_read(name), _FILES[name])
