"""The U-NAS app behind Debian's nginx, with the snippet as ``make install-unas`` writes it.

nginx runs as a process of the test (tests/nginx.py) and includes the
snippet the way docs/UNAS.md says; the plugin is a real stack. FSI requests
get the plugin's own answers through nginx, FSI JSON also when the plugin is
down, and the page works in Chromium inside the window that the app's
app.js opens, in English and in Chinese.
"""
from __future__ import annotations

import http.client
import json
import re

import pytest
from playwright.sync_api import Browser, expect

from plugin.errors import Err
from plugin.page import STATIC_DIR
from tests.nginx import APP_DIR, REPO, Nginx, install_unas
from tests.stack import PASSWORD, Stack, accepting, free_port
from tests.test_browser import PHONE, SLOW, expect_state

APP_PATH = "/apps/qbittorrent/"
ENDPOINT = APP_PATH + "include/index.php"
# The server block docs/UNAS.md tells the integrator to write.
DOCUMENTED_INCLUDE = re.search(r"```nginx\n.*?^\s*(include [^\n]*;)$.*?```",
                               (REPO / "docs" / "UNAS.md").read_text(), re.S | re.M).group(1)
# A NAS desktop reduced to what app.js needs: it loads the app's script and opens its window.
DESKTOP = """<!doctype html>
<html><head><meta charset="utf-8"><title>NAS desktop</title>
<script src="/apps/qbittorrent/app.js"></script></head>
<body style="margin:0"><div id="desktop" style="width:%dpx;height:%dpx"></div>
<script>unasApps.qbittorrent.open(document.getElementById("desktop"), navigator.language);</script>
</body></html>
""" % (PHONE["width"], PHONE["height"])


def unas_nginx(fsi_port: int) -> Nginx:
    nginx = Nginx(DOCUMENTED_INCLUDE)
    try:
        install_unas(nginx, fsi_port)
        (nginx.root / "index.html").write_text(DESKTOP)
        return nginx.start()
    except BaseException:
        nginx.close()
        raise


@pytest.fixture(scope="module")
def nginx(stack: Stack):
    running = unas_nginx(stack.port)
    yield running
    running.close()


@pytest.fixture
def offline_nginx():
    """nginx forwarding to a port where no plugin listens."""
    running = unas_nginx(free_port())
    yield running
    running.close()


def request(port: int, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def fsi_answer(answer: tuple[int, dict[str, str], bytes]) -> dict:
    status, headers, body = answer
    assert status == 200, answer
    assert headers["Content-Type"] == "application/json; charset=utf-8", answer
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    return json.loads(body)


def test_fsi_through_nginx_answers_what_the_plugin_answers(stack: Stack, nginx: Nginx):
    token = stack.login()
    posts = {
        "wrong password": {"cmd": "login", "params": {"username": "admin", "password": "no"}},
        "no token": {"cmd": "status"},
        "unknown command": {"cmd": "fly", "token": token},
        "bad port": {"cmd": "start", "token": token, "params": {"port": 70000}},
        "status": {"cmd": "status", "token": token},
        "version": {"cmd": "version", "token": token},
    }
    cases = {name: ("POST", "include/index.php", json.dumps(body).encode(), {})
             for name, body in posts.items()}
    cases.update({
        "not JSON": ("POST", "include/index.php", b"{cmd", {}),
        "form-encoded": ("POST", "include/index.php", json.dumps(posts["status"]).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"}),
        "a GET": ("GET", "include/index.php", b"", {}),
        "another site's page": ("POST", "include/index.php", json.dumps(posts["status"]).encode(),
                                {"Origin": "http://elsewhere.example"}),
        "unknown path": ("POST", "admin", b"{}", {}),
    })
    for name, (method, path, body, headers) in cases.items():
        direct = fsi_answer(request(stack.port, method, "/" + path, body, headers))
        forwarded = fsi_answer(request(nginx.port, method, APP_PATH + path, body, headers))
        assert direct["err"] == forwarded["err"] and direct["msg"] == forwarded["msg"], name
        assert set(direct.get("results") or {}) == set(forwarded.get("results") or {}), name
    assert fsi_answer(request(nginx.port, "POST", ENDPOINT, json.dumps(
        posts["status"]).encode()))["results"]["state"] == "stopped"


def test_a_body_over_64_kib_is_fsi_9972_through_nginx_as_from_the_plugin(stack: Stack,
                                                                        nginx: Nginx):
    body = b"{" + b" " * 65536 + b"}"
    direct = fsi_answer(request(stack.port, "POST", "/include/index.php", body))
    forwarded = fsi_answer(request(nginx.port, "POST", ENDPOINT, body))
    assert direct["err"] == forwarded["err"] == Err.REQUEST_FAILED
    limit = "an FSI request has at most 65536 bytes"
    assert direct["msg"].endswith(limit) and forwarded["msg"].endswith(limit)


def test_the_browsers_own_page_is_not_cross_site_through_nginx(stack: Stack, nginx: Nginx):
    # The page's origin is nginx's address: the plugin accepts it only if
    # nginx passes the Host the browser sent, port included.
    login = json.dumps({"cmd": "login", "params": {"username": "admin",
                                                   "password": PASSWORD}}).encode()
    origin = {"Origin": nginx.url, "Referer": nginx.url + APP_PATH}
    assert fsi_answer(request(nginx.port, "POST", ENDPOINT, login, origin))["err"] == Err.SUCCEED
    refused = fsi_answer(request(stack.port, "POST", "/include/index.php", login, origin))
    assert refused["err"] == Err.REQUEST_FAILED and "cross-site" in refused["msg"]


def test_the_desktops_files_come_from_the_app_directory_and_the_page_from_the_plugin(
        nginx: Nginx):
    files = sorted(path for path in APP_DIR.rglob("*") if path.is_file())
    assert len(files) >= 5
    for path in files:
        status, _, body = request(nginx.port, "GET", APP_PATH + str(path.relative_to(APP_DIR)))
        assert (status, body) == (200, path.read_bytes()), path
    status, headers, body = request(nginx.port, "GET", APP_PATH)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'src="./page.js"' in body
    for name in ("page.js", "page.css"):
        assert request(nginx.port, "GET", APP_PATH + name)[2] == (STATIC_DIR / name).read_bytes()
    status, headers, _ = request(nginx.port, "GET", APP_PATH.rstrip("/"))
    assert status == 301 and headers["Location"] == nginx.url + APP_PATH


def test_a_plugin_that_is_down_is_fsi_9977_and_a_plain_note_for_the_page(offline_nginx: Nginx):
    for method in ("POST", "GET"):
        answer = fsi_answer(request(offline_nginx.port, method, ENDPOINT, b'{"cmd":"status"}'))
        assert answer == {"err": Err.SERVER_OFFLINE,
                          "msg": "the qBittorrent plugin is not running"}
    status, headers, body = request(offline_nginx.port, "GET", APP_PATH)
    assert status == 503 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.startswith(b"The qBittorrent plugin is not running.")
    assert b"<" not in body
    # The desktop's files do not need the plugin.
    assert request(offline_nginx.port, "GET", APP_PATH + "app.json")[0] == 200


WORDS = {
    "en-US": {"password": "Password", "login": "Log in", "port": "Web UI port",
              "start": "Start", "stop": "Stop", "open": "Open qBittorrent Web UI",
              "lang": "en"},
    "zh-CN": {"password": "密码", "login": "登录", "port": "Web UI 端口",
              "start": "启动", "stop": "停止", "open": "打开 qBittorrent Web UI",
              "lang": "zh-CN"},
}


@pytest.mark.parametrize("locale", WORDS)
def test_the_app_window_log_in_start_open_web_ui_and_stop_through_nginx(
        browser: Browser, stack: Stack, nginx: Nginx, stopped_after, locale: str):
    words = WORDS[locale]
    texts = json.loads((APP_DIR / "translation.json").read_text())[words["lang"]]
    app = json.loads((APP_DIR / "app.json").read_text())
    context = browser.new_context(viewport=PHONE, locale=locale)
    desktop = context.new_page()
    desktop.set_default_timeout(30_000)
    posted: list[str] = []
    desktop.on("request", lambda sent: posted.append(sent.url) if sent.method == "POST" else None)
    try:
        desktop.goto(nginx.url + "/")
        window = desktop.locator("section.unas-app-window")
        expect(window.get_by_role("heading")).to_have_text(texts["title"])
        expect(window.locator("iframe")).to_have_attribute("title", texts["description"])
        icon = window.locator("header img")
        expect(icon).to_have_js_property("complete", True)
        assert icon.evaluate("icon => icon.naturalWidth") > 0  # loaded, not broken
        icon_url = nginx.url + APP_PATH + app["appIcon"]
        assert desktop.evaluate("unasApps.qbittorrent.icon") == icon_url

        page = desktop.frame_locator("section.unas-app-window iframe")
        expect(page.locator("html")).to_have_attribute("lang", words["lang"])
        page.get_by_label(words["password"], exact=True).fill(PASSWORD)
        page.get_by_role("button", name=words["login"], exact=True).click()
        expect_state(page, "stopped")
        port = free_port()
        page.get_by_label(words["port"]).fill(str(port))
        page.get_by_role("button", name=words["start"], exact=True).click()
        expect_state(page, "running")
        expect(page.locator("#port-now")).to_have_text(str(port))

        link = page.get_by_role("link", name=words["open"])
        expect(link).to_have_attribute("href", "http://127.0.0.1:%d/" % port)
        with context.expect_page() as opening:
            link.click()
        webui = opening.value
        expect(webui.locator("#login")).to_be_visible(timeout=SLOW)  # qBittorrent's own form
        assert webui.url == "http://127.0.0.1:%d/" % port
        webui.close()

        page.get_by_role("button", name=words["stop"], exact=True).click()
        expect_state(page, "stopped")
        assert not accepting(port)
    finally:
        context.close()
    assert posted and set(posted) == {nginx.url + ENDPOINT}
