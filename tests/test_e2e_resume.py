"""End to end: torrents and their resume data survive a stop through FSI (real qbittorrent-nox)."""
from __future__ import annotations

from tests.stack import free_port, wait_for
from tests.torrents import PIECE, WebApi, make_torrent


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
