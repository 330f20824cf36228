"""The page at ``/`` in real headless Chromium (Debian's), against the real stack.

Playwright drives the system Chromium by its path: nothing is downloaded.
Set UPDATE_SCREENSHOT=1 to refresh docs/screenshot.png from the journey test.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.local_server import PASSWORD as LOCAL_PASSWORD, DummyService, LocalServer
from tests.proxy import SubPathProxy
from tests.stack import PASSWORD, Stack, accepting, free_port, webui_client
from tests.torrents import dataless_torrent

PHONE = {"width": 390, "height": 844}
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
# A stop answers 9998 "still stopping" when it outlives its wait; the page
# must then keep polling. 120 s covers a slow machine's start and stop.
SLOW = 120_000


@pytest.fixture
def page(browser: Browser, stack: Stack):
    context = browser.new_context(viewport=PHONE, locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()
    stack.call("stop")


def base_url(stack: Stack) -> str:
    return "http://127.0.0.1:%d/" % stack.port


def fsi_posts(page: Page) -> list[dict]:
    """Every FSI request body the page sends, in order."""
    sent: list[dict] = []
    page.on("request", lambda request: sent.append(json.loads(request.post_data))
            if request.method == "POST" else None)
    return sent


def log_in(page: Page, password: str = PASSWORD) -> None:
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


def expect_state(page: Page, state: str, timeout: float = SLOW) -> None:
    expect(page.locator("#state")).to_have_attribute("data-state", state, timeout=timeout)


def test_log_in_start_open_web_ui_restart_elsewhere_and_stop(page: Page, stack: Stack,
                                                             tmp_path: Path):
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    port, other = free_port(), free_port()
    page.get_by_label("Web UI port").fill(str(port))
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#progress")).to_be_visible()
    expect_state(page, "running")
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator("#port-now")).to_have_text(str(port))
    expect(page.locator("#pid")).to_have_text(str(stack.call("status")["results"]["pid"]))
    link = page.get_by_role("link", name="Open qBittorrent Web UI")
    expect(link).to_have_attribute("href", "http://127.0.0.1:%d/" % port)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, SCREENSHOT)

    # The link opens qBittorrent's own Web UI, and the credentials shown work there.
    page.get_by_role("button", name="Show", exact=True).click()
    username = page.locator("#webui-username").inner_text()
    password = page.locator("#webui-password").inner_text()
    with page.context.expect_page() as opening:
        link.click()
    webui = opening.value
    webui.locator("#username").fill(username)
    webui.locator("#password").fill(password)
    webui.locator("#login").click()
    expect(webui.locator("#desktop")).to_be_visible(timeout=30_000)
    webui.close()

    page.get_by_label("Web UI port").fill(str(other))
    page.get_by_role("button", name="Restart", exact=True).click()
    expect(page.locator("#port-now")).to_have_text(str(other), timeout=SLOW)
    expect_state(page, "running")
    assert accepting(other) and not accepting(port)

    # Same port: a plain restart, a new process on it.
    before = page.locator("#pid").inner_text()
    page.get_by_role("button", name="Restart", exact=True).click()
    expect(page.locator("#pid")).not_to_have_text(before, timeout=SLOW)
    expect_state(page, "running")
    assert page.locator("#pid").inner_text().isdigit()
    assert accepting(other)

    page.get_by_role("button", name="Stop", exact=True).click()
    expect_state(page, "stopped")
    expect(page.locator("#progress")).to_be_hidden()
    expect(link).to_be_hidden()
    assert not accepting(other)
    expect(page.locator("#action-error")).to_be_hidden()


def test_wrong_password_shows_the_error_from_msg(page: Page, stack: Stack):
    page.goto(base_url(stack))
    log_in(page, "not the password")
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    expect(page.locator("#app-view")).to_be_hidden()


def test_a_bad_port_is_refused_before_anything_is_sent(page: Page, stack: Stack):
    sent = fsi_posts(page)
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    for bad in ("70000", "0", "12.5", ""):
        page.get_by_label("Web UI port").fill(bad)
        page.get_by_role("button", name="Start", exact=True).click()
        expect(page.locator("#port-error")).to_have_text("Enter a whole number from 1 to 65535.")
        expect(page.get_by_label("Web UI port")).to_have_attribute("aria-invalid", "true")
    assert not [body for body in sent if body["cmd"] == "start"]


def test_a_status_arriving_while_the_port_is_being_edited_leaves_the_field_alone(page: Page,
                                                                                stack: Stack):
    # Status polls fill in the configured port; the first one landing between
    # focusing the empty field and typing once turned 51571 into 808051571.
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    field = page.get_by_label("Web UI port")
    field.evaluate("field => { field.value = ''; }")  # as before the first status
    field.focus()
    with page.expect_response(lambda response: response.request.method == "POST" and json.loads(
            response.request.post_data)["cmd"] == "status"):
        pass  # the page's next poll
    page.keyboard.type("12345")
    expect(field).to_have_value("12345")


def test_plugin_errors_are_shown_from_msg(page: Page, stack: Stack):
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        page.get_by_label("Web UI port").fill(str(holder.getsockname()[1]))
        page.get_by_role("button", name="Start", exact=True).click()
        expect(page.locator("#action-error")).to_have_text(
            "port %d is already in use by another program" % holder.getsockname()[1])
    expect_state(page, "stopped")


def test_web_ui_credentials_can_be_changed_and_apply_at_the_next_start(page: Page,
                                                                        stack: Stack):
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    page.get_by_text("Change these credentials").click()
    page.get_by_label("New Web UI username").fill("has space")
    page.get_by_label("New Web UI password").fill("long enough")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#webui-form-error")).to_have_text(
        "username must be 3 to 64 characters of A-Z a-z 0-9 . _ @ -")
    page.get_by_label("New Web UI username").fill("nas-admin")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#webui-username")).to_have_text("nas-admin")
    expect(page.locator("#webui-pending")).to_be_visible()
    page.get_by_label("Web UI port").fill(str(free_port()))
    page.get_by_role("button", name="Start", exact=True).click()
    expect_state(page, "running")
    expect(page.locator("#webui-pending")).to_be_hidden()
    credentials = stack.call("webui_credentials")["results"]
    assert credentials == {"username": "nas-admin", "password": "long enough", "applied": True}


def test_language_follows_accept_language_and_can_be_switched(browser: Browser, stack: Stack):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(base_url(stack))
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("button", name="登录")).to_be_visible()
        page.get_by_label("语言").select_option("en")
        expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
        page.reload()  # the choice is remembered
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        context.close()


def set_visibility(page: Page, state: str) -> None:
    """What a browser does when the tab goes to the background or comes back."""
    page.evaluate("""state => {
        Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", state)


def test_the_transfers_panel_shows_qbittorrents_counts_in_both_languages(page: Page,
                                                                         stack: Stack,
                                                                         tmp_path: Path):
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    expect(page.locator("#stats-card")).to_be_hidden()
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    client = webui_client(port, stack.call("webui_credentials")["results"])
    client.auth_log_in()
    # A "$" in a shown value once turned into what the text's placeholder matched.
    downloads = tmp_path / "down $& loads"
    downloads.mkdir()
    client.app_set_preferences({"save_path": str(downloads)})
    client.torrents_add(torrent_files=[dataless_torrent("browser-%d.bin" % i)[0]
                                       for i in range(3)], is_paused=True)
    try:
        # The page follows by itself: status every 3 s, the panel every 2 s.
        expect_state(page, "running")
        expect(page.locator("#count-total")).to_have_text("3")
        expect(page.locator("#count-paused")).to_have_text("3")
        expect(page.locator("#count-downloading")).to_have_text("0")
        expect(page.locator("#stat-download-speed")).to_have_text("0 B/s")
        expect(page.locator("#stat-upload-speed")).to_have_text("0 B/s")
        expect(page.locator("#stat-free-space")).to_have_text(
            re.compile(r"^[\d.,]+ (KiB|MiB|GiB|TiB|PiB)$"))
        expect(page.locator("#stat-save-path")).to_have_text("Saving to %s" % downloads)
        expect(page.locator("#count-paused-label")).to_have_text("Paused")
        expect(page.locator("#stats-title")).to_have_text("Transfers")
        page.get_by_label("Language").select_option("zh-CN")
        expect(page.locator("#stats-title")).to_have_text("传输")
        expect(page.locator("#count-paused-label")).to_have_text("已暂停")
        expect(page.locator("#count-total-label")).to_have_text("全部")
        expect(page.locator("#stat-save-path")).to_have_text("保存到 %s" % downloads)
        expect(page.locator("#count-paused")).to_have_text("3")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        if os.environ.get("STATS_SHOT"):
            page.screenshot(path=os.environ["STATS_SHOT"], full_page=True)
    finally:
        client.torrents_delete(delete_files=False, torrent_hashes="all")
    page.get_by_label("语言").select_option("en")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect_state(page, "stopped")
    expect(page.locator("#stats-card")).to_be_hidden()


def test_the_transfers_panel_asks_nothing_while_the_page_is_hidden(page: Page, stack: Stack):
    sent = fsi_posts(page)

    def stats_sent() -> int:
        return sum(1 for body in sent if body["cmd"] == "stats")

    page.goto(base_url(stack))
    log_in(page)
    page.get_by_label("Web UI port").fill(str(free_port()))
    page.get_by_role("button", name="Start", exact=True).click()
    expect_state(page, "running")
    expect(page.locator("#count-total")).to_have_text("0")
    set_visibility(page, "hidden")
    hidden_at = stats_sent()
    # Two status polls (3 s apart) come and go; a visible page asks stats every 2 s.
    for _ in range(2):
        with page.expect_request(lambda request: request.method == "POST" and json.loads(
                request.post_data)["cmd"] == "status", timeout=SLOW):
            pass
    assert stats_sent() <= hidden_at + 1  # at most one that was already on its way
    with page.expect_request(lambda request: request.method == "POST" and json.loads(
            request.post_data)["cmd"] == "stats"):
        set_visibility(page, "visible")


def test_the_page_works_under_a_forwarded_sub_path(page: Page, stack: Stack):
    sent = fsi_posts(page)
    with SubPathProxy(stack.port) as proxy:
        page.goto(proxy.url)
        log_in(page)
        expect_state(page, "stopped")
        port = free_port()
        page.get_by_label("Web UI port").fill(str(port))
        page.get_by_role("button", name="Start", exact=True).click()
        expect_state(page, "running")
        page.get_by_role("button", name="Stop", exact=True).click()
        expect_state(page, "stopped")
    assert {"login", "status", "start", "stop"} <= {body["cmd"] for body in sent}
    assert proxy.paths and all(path.startswith("/apps/qbittorrent/") for path in proxy.paths)


@pytest.fixture
def slow_stop_stack():
    """A stack whose stop never waits: every stop answers 9998 'still stopping'."""
    running = Stack(extra_env={"FSI_STOP_WAIT": "0"}).start()
    yield running
    running.close()


def test_a_stop_that_outlives_its_wait_keeps_showing_progress(browser: Browser,
                                                              slow_stop_stack: Stack):
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    answers: list[tuple[str, dict]] = []
    page.on("response", lambda response: answers.append(
        (json.loads(response.request.post_data)["cmd"], response.json()))
        if response.request.method == "POST" else None)
    try:
        page.goto(base_url(slow_stop_stack))
        log_in(page)
        page.get_by_label("Web UI port").fill(str(free_port()))
        page.get_by_role("button", name="Start", exact=True).click()
        expect_state(page, "running")
        page.get_by_role("button", name="Stop", exact=True).click()
        expect_state(page, "stopped")
        expect(page.locator("#progress")).to_be_hidden()
        expect(page.locator("#action-error")).to_be_hidden()
        expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled()
    except AssertionError as failure:
        raise AssertionError("%s\nanswers: %s\nstack log: %s"
                             % (failure, answers, slow_stop_stack.log())) from None
    finally:
        context.close()
    stops = [answer for cmd, answer in answers if cmd == "stop"]
    assert stops and stops[0]["err"] == 9998
    assert stops[0]["results"]["state"] == "stopping"


class WatchedService(DummyService):
    """A running qBittorrent; once ``watched``, the watchdog finds it unresponsive."""

    def __init__(self) -> None:
        super().__init__()
        self.running = True
        self.watched = False

    def status(self) -> dict:
        if not self.watched:
            return super().status()
        return {**super().status(), "health": "unresponsive", "failed_checks": 2,
                "watchdog_restarts": 1, "watchdog_last_restart": 1_800_000_000,
                "watchdog_last_reason": "its Web UI on port 8080 did not answer 3 checks "
                                        "in a row"}

    def webui_credentials(self) -> dict:
        return {"username": "admin", "password": "webui-password", "applied": True}

    def versions(self) -> dict:
        return {"plugin": "0", "fsi": "2.1", "qbittorrent": "4.5.2", "supervisor": "4.3.0"}


def test_the_watchdogs_findings_are_shown_in_both_languages(browser: Browser, tmp_path: Path):
    service = WatchedService()
    server = LocalServer(tmp_path, service=service)
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    try:
        page.goto("http://127.0.0.1:%s/" % server.port)
        log_in(page, LOCAL_PASSWORD)
        expect_state(page, "running")
        # The watchdog off: no such facts.
        expect(page.locator("#health")).to_be_hidden()
        expect(page.locator("#watchdog")).to_be_hidden()
        service.watched = True
        expect(page.locator("#health")).to_have_text("no answer (2 failed checks in a row)")
        watchdog = page.locator("#watchdog")
        expect(watchdog).to_contain_text("1, last on ")
        expect(watchdog).to_contain_text(": its Web UI on port 8080 did not answer 3 checks")
        expect(page.get_by_text("Watchdog restarts")).to_be_visible()
        page.get_by_label("Language").select_option("zh-CN")
        expect(page.locator("#health")).to_have_text("无响应（连续 2 次检查失败）")
        expect(watchdog).to_contain_text("1 次，最近一次于 ")
        expect(page.get_by_text("看门狗重启")).to_be_visible()
    finally:
        context.close()
        server.close()


def test_the_backups_panel_makes_lists_and_deletes_a_backup(page: Page, stack: Stack):
    sent = fsi_posts(page)
    page.goto(base_url(stack))
    log_in(page)
    expect_state(page, "stopped")
    page.get_by_role("button", name="Make a backup").click()
    expect(page.locator("#backup-message")).to_have_text("Backup made.")
    made = stack.call("backups")["results"]["records"][0]
    row = page.locator("#backup-list li[data-name='%s']" % made["name"])
    expect(row).to_contain_text("made by hand")
    expect(row).to_contain_text("%d torrents" % made["torrents"])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # A restore asks first: dismissed, nothing is sent.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Restore", exact=True).click()
    assert asked and asked[0].startswith("Restore the backup of ")
    assert "restore" not in {body["cmd"] for body in sent}

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#backup-message")).to_have_text("Backup deleted.")
    expect(row).to_have_count(0)
    assert made["name"] not in {record["name"]
                                for record in stack.call("backups")["results"]["records"]}
    assert {"backup", "backups", "delete_backup"} <= {body["cmd"] for body in sent}
