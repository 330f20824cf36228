"""End to end: the watchdog on the real stack, qBittorrent hung by SIGSTOP.

A stopped process keeps its listening socket: the kernel accepts the
watchdog's connections and nobody answers them, as with a hung Web UI. Every
test continues the process it stopped, in ``finally``, by its pid.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Iterator

import pytest
import qbittorrentapi

from plugin.probes import exited
from tests.stack import Stack, free_port, wait_for
from tests.torrents import PIECE, make_torrent

#: Short settings: a check a second, a restart after 2 failed, SIGKILL 3 s after SIGTERM.
WATCHDOG = {"FSI_WATCHDOG_INTERVAL": "1", "FSI_WATCHDOG_FAILURES": "2",
            "FSI_WATCHDOG_KILL_AFTER": "3"}
#: Bounds for waits that include a start of qBittorrent on a loaded machine.
RECOVERY = 60
ANSWER = 15
#: Longer than the watchdog above takes to begin a restart (2 failed checks of 1 s).
QUIET = 5


@pytest.fixture(scope="module")
def watched():
    running = Stack(extra_env=WATCHDOG).start()
    yield running
    running.close()


@contextlib.contextmanager
def hung(pid: int) -> Iterator[None]:
    """qBittorrent ``pid`` stopped (SIGSTOP) until the block ends, then continued."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if not exited(pid):
            os.kill(pid, signal.SIGCONT)


def status(stack: Stack) -> dict:
    answer = stack.call("status")
    assert answer["err"] == 0, answer
    return answer["results"]


def start_watched(stack: Stack, port: int) -> int:
    """Start qBittorrent on ``port``; its pid once the watchdog found it healthy."""
    answer = stack.call("start", port=port)
    assert answer["err"] == 0, answer
    pid = answer["results"]["pid"]
    assert wait_for(lambda: status(stack)["health"] == "ok", timeout=ANSWER)
    assert status(stack)["pid"] == pid
    return pid


def plugin_log(stack: Stack) -> str:
    return (stack.home / "log" / "qbittorrent-fsi.log").read_text()


def webui(port: int, credentials: dict) -> qbittorrentapi.Client:
    return qbittorrentapi.Client(host="127.0.0.1", port=port, username=credentials["username"],
                                 password=credentials["password"],
                                 REQUESTS_ARGS={"timeout": 10})


def test_a_hung_qbittorrent_is_replaced_on_its_port_and_keeps_its_torrents(watched: Stack,
                                                                          tmp_path: Path):
    port = free_port()
    pid = start_watched(watched, port)
    before = status(watched).get("watchdog_restarts", 0)
    credentials = watched.call("webui_credentials")["results"]
    torrent, info_hash = make_torrent(tmp_path, "kept.bin", PIECE * 2)
    client = webui(port, credentials)
    assert client.torrents_add(torrent_files=torrent, save_path=str(tmp_path),
                               is_paused=True) == "Ok."
    # A killed qBittorrent keeps what it saved: wait for the torrent's resume data.
    backup = watched.home / "profile" / "qBittorrent" / "data" / "BT_backup"
    assert wait_for(lambda: (backup / ("%s.fastresume" % info_hash)).exists(), timeout=ANSWER)

    with hung(pid):
        assert wait_for(lambda: status(watched)["pid"] not in (None, pid), timeout=RECOVERY)
    assert wait_for(lambda: status(watched)["health"] == "ok", timeout=ANSWER)
    now = status(watched)
    assert now["running"] and now["port"] == port and exited(pid)
    assert now["watchdog_restarts"] == before + 1
    # A stopped process ignores SIGTERM until it is continued, so it took SIGKILL.
    assert now["watchdog_last_reason"] == ("its Web UI on port %d did not answer 2 checks in "
                                           "a row; killed 3 s after SIGTERM" % port)
    assert info_hash in {t.hash for t in webui(port, credentials).torrents_info()}
    assert wait_for(lambda: "watchdog: qBittorrent (pid %d) did not exit 3 s after SIGTERM: "
                    "SIGKILL sent" % pid in plugin_log(watched), timeout=ANSWER)
    assert "watchdog: restarting qBittorrent (pid %d)" % pid in plugin_log(watched)


def test_a_web_ui_that_misses_one_check_is_not_restarted(watched: Stack):
    pid = start_watched(watched, watched.configured_port() or free_port())
    before = status(watched).get("watchdog_restarts", 0)
    with hung(pid):
        assert wait_for(lambda: status(watched)["health"] == "unresponsive", timeout=ANSWER)
        assert status(watched)["failed_checks"] == 1
    # Continued at once: the check under way gets its answer.
    assert wait_for(lambda: status(watched)["health"] == "ok", timeout=ANSWER)
    now = status(watched)
    assert now["pid"] == pid and now.get("watchdog_restarts", 0) == before


def test_supervisorctl_stop_during_an_unresponsive_spell_is_respected():
    # Four failed checks before a restart: time for supervisorctl to start up
    # and stop qBittorrent once the first check has failed.
    stack = Stack(extra_env={**WATCHDOG, "FSI_WATCHDOG_FAILURES": "4"}).start()
    try:
        pid = start_watched(stack, free_port())
        with hung(pid):
            assert wait_for(lambda: status(stack)["health"] == "unresponsive", timeout=ANSWER)
            # supervisorctl waits for the exit, which comes once it is continued.
            stopper = threading.Thread(target=stack.ctl, args=("stop", "qbittorrent"))
            stopper.start()
            assert wait_for(lambda: status(stack)["state"] == "stopping", timeout=ANSWER)
        stopper.join(RECOVERY)
        assert wait_for(lambda: status(stack)["state"] == "stopped", timeout=RECOVERY)
        assert not wait_for(lambda: status(stack)["state"] != "stopped", timeout=QUIET)
        assert "watchdog_restarts" not in status(stack)
    finally:
        stack.close()


def test_with_the_watchdog_off_nothing_happens():
    stack = Stack(extra_env={**WATCHDOG, "FSI_WATCHDOG_INTERVAL": "0"}).start()
    try:
        port = free_port()
        answer = stack.call("start", port=port)
        assert answer["err"] == 0, answer
        pid = answer["results"]["pid"]
        assert wait_for(lambda: status(stack)["state"] == "running", timeout=ANSWER)
        with hung(pid):
            assert not wait_for(lambda: status(stack)["state"] != "running", timeout=QUIET)
        now = status(stack)
        assert now["pid"] == pid and not {"health", "watchdog_restarts"} & set(now)
        assert "watchdog off" in plugin_log(stack)
    finally:
        stack.close()
