"""End to end: ``stats`` on a real qBittorrent with torrents made here, against qbittorrent-api.

The torrents are trackerless and private, and nothing transfers: most have
no data at all. qBittorrent's default save path is a tmpfs mounted in a
mount namespace private to this stack, so that its free space holds still
while two sessions (the plugin's and qbittorrent-api's) each measure it.
"""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from plugin.errors import Err
from plugin.stats import COUNTS, STATE_COUNTS
from tests.stack import Stack, free_port, wait_for, webui_client
from tests.torrents import PIECE, dataless_torrent, make_torrent

#: The states the torrents below settle in, on qBittorrent 4.5.
SETTLED = Counter({"pausedDL": 3, "stalledDL": 1, "queuedDL": 2, "forcedDL": 1, "forcedUP": 1})


@pytest.fixture(scope="module")
def stats_stack():
    stack = Stack(wrapper=["unshare", "--mount", "--propagation", "private"]).start()
    try:
        downloads = stack.home / "downloads"
        downloads.mkdir()
        mount = subprocess.run(["nsenter", "--target", str(stack.process.pid), "--mount",
                                "mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                                str(downloads)], capture_output=True, text=True)
        assert mount.returncode == 0, mount.stderr
        port = free_port()
        assert stack.call("start", port=port)["err"] == 0
        client = webui(stack)
        client.app_set_preferences({"save_path": str(downloads), "queueing_enabled": True,
                                    "max_active_downloads": 1, "max_active_uploads": 5,
                                    "max_active_torrents": 10})
        yield stack
    finally:
        stack.close()


def webui(stack: Stack):
    """qbittorrent-api, logged in to the running qBittorrent with the plugin's credentials."""
    port = stack.call("status")["results"]["port"]
    client = webui_client(port, stack.call("webui_credentials")["results"])
    client.auth_log_in()
    return client


def add_torrents(client, seed_dir: Path) -> None:
    """Torrents that settle in the states of SETTLED."""
    client.torrents_add(torrent_files=[dataless_torrent("paused-%d.bin" % i)[0]
                                       for i in range(3)], is_paused=True)
    # Queueing lets one download run; with no peers it stalls, the others queue.
    client.torrents_add(torrent_files=[dataless_torrent("queue-%d.bin" % i)[0]
                                       for i in range(3)])
    forced, forced_hash = dataless_torrent("forced.bin")
    client.torrents_add(torrent_files=[forced], is_paused=True)
    seeded, seeded_hash = make_torrent(seed_dir, "seed.bin", 4 * PIECE)
    client.torrents_add(torrent_files=[seeded], save_path=str(seed_dir), is_paused=True)
    # qBittorrent adds torrents after it answers: a force start before that is lost.
    assert wait_for(lambda: {forced_hash, seeded_hash} <= {
        torrent.hash for torrent in client.torrents_info()}, timeout=30)
    client.torrents_set_force_start(enable=True, torrent_hashes=[forced_hash, seeded_hash])


def qbittorrent_api_figures(client) -> dict:
    """What the plugin should answer, read with qbittorrent-api in a session of its own."""
    transfer = client.transfer_info()
    counts = Counter(STATE_COUNTS.get(torrent.state) for torrent in client.torrents_info())
    free_space = client.sync_maindata()["server_state"]["free_space_on_disk"]
    return {"running": True,
            "download_speed": transfer["dl_info_speed"], "upload_speed": transfer["up_info_speed"],
            "downloaded": transfer["dl_info_data"], "uploaded": transfer["up_info_data"],
            "torrents": {"total": sum(counts.values()),
                         **{name: counts[name] for name in COUNTS if name != "total"}},
            "free_space": free_space, "save_path": client.app.default_save_path,
            "connection_status": transfer["connection_status"],
            "dht_nodes": transfer["dht_nodes"]}


def test_the_figures_are_those_qbittorrent_api_reads(stats_stack, tmp_path):
    client = webui(stats_stack)
    add_torrents(client, tmp_path)
    assert wait_for(lambda: Counter(t.state for t in client.torrents_info()) == SETTLED,
                    timeout=60), [(t.name, t.state) for t in client.torrents_info()]
    # A session of its own, begun after the save path moved to the tmpfs: qBittorrent
    # measures the free space once per session and then every 30 s.
    fresh = webui(stats_stack)
    expected = qbittorrent_api_figures(fresh)
    assert expected["torrents"] == {"total": 8, "downloading": 1, "seeding": 1, "paused": 3,
                                    "stalled": 1, "checking": 0, "queued": 2, "error": 0}
    assert expected["download_speed"] == expected["upload_speed"] == 0
    assert expected["free_space"] > 0 and expected["save_path"].rstrip("/").endswith("downloads")
    answers = []
    # The plugin's first read after its login may come before its session measured
    # the free space, and an answer is shared for up to 1 s: read until they agree.
    assert wait_for(lambda: answers.append(stats_stack.call("stats")) or
                    answers[-1].get("results") == expected, timeout=10, interval=0.3), \
        (answers[-1], expected)
    assert answers[-1]["err"] == 0


def test_credentials_set_while_running_do_not_stop_the_figures(stats_stack):
    answer = stats_stack.call("set_webui_credentials", username="nas-admin",
                              password="correct horse")
    assert answer["results"]["restart_required"] is True
    assert stats_stack.call("restart")["err"] == 0  # a new process: a new login
    answer = stats_stack.call("set_webui_credentials", username="nas-other",
                              password="battery staple")
    assert answer["err"] == 0
    # qBittorrent still has nas-admin's: the plugin logs in with those until the restart.
    answer = stats_stack.call("stats")
    assert answer["err"] == 0, answer
    assert answer["results"]["torrents"]["total"] == 8
    assert stats_stack.call("restart")["err"] == 0
    assert stats_stack.call("stats")["err"] == 0


def test_credentials_changed_in_qbittorrent_behind_the_plugins_back_are_9971(stats_stack):
    assert stats_stack.call("restart")["err"] == 0  # the plugin has no session with it yet
    webui(stats_stack).app_set_preferences({"web_ui_password": "changed by hand"})
    answer = stats_stack.call("stats")
    assert answer["err"] == Err.OFFLINE, answer
    assert answer["results"] == {"running": True}
    assert "refused the plugin's Web UI credentials" in answer["msg"]
    # A restart writes the plugin's credentials into qBittorrent's config again.
    assert stats_stack.call("restart")["err"] == 0
    answer = stats_stack.call("stats")
    assert answer["err"] == 0, answer
    assert answer["results"]["running"] is True


def test_stopped_qbittorrent_gives_running_false_and_no_figures(stats_stack):
    assert stats_stack.call("stop")["err"] == 0
    assert stats_stack.call("stats") == {"err": 0, "msg": "ok", "results": {"running": False}}
