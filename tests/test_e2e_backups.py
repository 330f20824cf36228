"""End to end: backup, restore, delete through FSI on the real stack, seen with qbittorrent-api."""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from plugin.errors import Err
from tests.stack import Stack, accepting, free_port, wait_for, webui_client
from tests.torrents import PIECE, make_torrent

pytestmark = pytest.mark.usefixtures("stopped_after")

#: What each torrent gets when it is added: its category and tags.
TORRENTS = {"film.bin": ("movies", ["keep"]), "song.bin": ("music", ["keep", "seed"]),
            "other.bin": ("", ["seed"])}


def seeded(client) -> dict[str, tuple[str, list[str]]]:
    """What qBittorrent has: torrent name -> (category, sorted tags)."""
    return {torrent.name: (torrent.category, sorted(filter(None, torrent.tags.split(", "))))
            for torrent in client.torrents_info()}


def add_torrents(client, directory: Path) -> None:
    client.torrents_create_category("movies", save_path=str(directory))
    client.torrents_create_category("music", save_path=str(directory))
    client.torrents_create_tags(["keep", "seed"])
    for name, (category, tags) in TORRENTS.items():
        torrent, _ = make_torrent(directory, name, PIECE * 2)
        assert client.torrents_add(torrent_files=[torrent], save_path=str(directory),
                                   category=category or None, tags=tags) == "Ok."
    assert wait_for(lambda: seeded(client) == TORRENTS, timeout=10), seeded(client)


def profile_state(stack: Stack) -> dict[str, bytes]:
    """The profile's config and torrent files (what a restore would replace)."""
    base = stack.home / "profile" / "qBittorrent"
    return {str(path.relative_to(base)): path.read_bytes()
            for root in (base / "config", base / "data" / "BT_backup")
            for path in sorted(root.rglob("*")) if path.is_file()}


def names(stack: Stack) -> list[str]:
    answer = stack.call("backups")
    assert answer["err"] == 0, answer
    return [record["name"] for record in answer["results"]["records"]]


def test_restore_brings_back_torrents_categories_tags_port_and_login(stack, tmp_path):
    port = free_port()
    assert stack.call("start", port=port)["err"] == 0
    login = stack.call("webui_credentials")["results"]
    client = webui_client(port, login)
    add_torrents(client, tmp_path)
    assert stack.call("stop")["err"] == 0  # qBittorrent saves every resume file on exit
    answer = stack.call("backup")
    assert answer["err"] == 0, answer
    made = answer["results"]
    assert made["torrents"] == 3 and made["consistent"] is True and "note" not in made
    assert made["size"] == (stack.home / "backups" / (made["name"] + ".tar.gz")).stat().st_size
    assert names(stack)[0] == made["name"]

    # Change things: a torrent deleted, a tag and a category taken away, another port and login.
    other_port = free_port()
    assert stack.call("start", port=other_port)["err"] == 0
    client = webui_client(other_port, login)
    client.torrents_delete(delete_files=False, torrent_hashes=[
        torrent.hash for torrent in client.torrents_info() if torrent.name == "film.bin"])
    client.torrents_remove_tags(tags="seed", torrent_hashes="all")
    client.torrents_set_category(category="", torrent_hashes="all")
    assert wait_for(lambda: seeded(client) == {"song.bin": ("", ["keep"]),
                                               "other.bin": ("", [])}, timeout=10)
    answer = stack.call("set_webui_credentials", username="changed", password="changed-pw")
    assert answer["err"] == 0, answer
    changed_port = free_port()
    assert stack.call("start", port=changed_port)["err"] == 0

    answer = stack.call("restore", name=made["name"])
    assert answer["err"] == 0, answer
    restored = answer["results"]
    assert restored["restored"] == made["name"] and restored["torrents"] == 3
    assert restored["running"] is True and restored["port"] == port
    assert restored["webui_url"] == "http://127.0.0.1:%d/" % port
    assert accepting(port) and not accepting(changed_port)
    assert stack.call("status")["results"]["port"] == port
    assert stack.call("webui_credentials")["results"] == {**login, "applied": True}
    client = webui_client(port, login)
    assert wait_for(lambda: seeded(client) == TORRENTS, timeout=10), seeded(client)
    assert {"movies", "music"} <= set(client.torrents_categories())
    assert {"keep", "seed"} <= set(client.torrents_tags())
    assert restored["undo"] in names(stack)

    # The automatic backup made before the swap undoes the restore.
    answer = stack.call("restore", name=restored["undo"])
    assert answer["err"] == 0, answer
    assert answer["results"]["port"] == changed_port
    changed = stack.call("webui_credentials")["results"]
    assert (changed["username"], changed["password"]) == ("changed", "changed-pw")
    client = webui_client(changed_port, changed)
    assert wait_for(lambda: seeded(client) == {"song.bin": ("", ["keep"]), "other.bin": ("", [])},
                    timeout=10), seeded(client)


def test_a_backup_while_qbittorrent_runs_says_its_resume_data_may_be_older(stack):
    assert stack.call("start", port=free_port())["err"] == 0
    answer = stack.call("backup")
    assert answer["err"] == 0, answer
    assert answer["results"]["consistent"] is False
    assert "last save" in answer["results"]["note"]
    assert stack.call("status")["results"]["running"] is True
    record = stack.call("backups")["results"]["records"][0]
    assert record["name"] == answer["results"]["name"] and record["consistent"] is False


def test_delete_backup_removes_it_from_the_list_and_the_disk(stack):
    name = stack.call("backup")["results"]["name"]
    assert stack.call("delete_backup", name=name) == {"err": 0, "msg": "ok"}
    assert name not in names(stack)
    assert not (stack.home / "backups" / (name + ".tar.gz")).exists()
    assert stack.call("delete_backup", name=name)["err"] == Err.NOT_EXISTS


@pytest.mark.parametrize("params, err", [
    ({}, Err.NO_INPUT),
    ({"name": None}, Err.NO_INPUT),
    ({"name": "../auth"}, Err.PARAMS),
    ({"name": "../../etc/passwd"}, Err.PARAMS),
    ({"name": "manual-20260102-030405-060708.tar.gz"}, Err.PARAMS),
    ({"name": "backups/manual-20260102-030405-060708"}, Err.PARAMS),
    ({"name": "/tmp/manual-20260102-030405-060708"}, Err.PARAMS),
    ({"name": "manual-20260102-030405-060708.zip"}, Err.PARAMS),
    ({"name": 20260102}, Err.PARAMS),
    ({"name": ["manual-20260102-030405-060708"]}, Err.PARAMS),
    ({"name": "manual-20260102-030405-060708", "path": "/"}, Err.PARAMS),
    ({"name": "manual-20260102-030405-060708"}, Err.NOT_EXISTS),
])
@pytest.mark.parametrize("cmd", ["restore", "delete_backup"])
def test_a_bad_name_is_refused_and_changes_nothing(stack, cmd, params, err):
    before = profile_state(stack), names(stack), stack.call("status")["results"]["state"]
    assert stack.call(cmd, **params)["err"] == err
    assert (profile_state(stack), names(stack), stack.call("status")["results"]["state"]) == before


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_an_entry_planted_in_the_backups_directory_is_no_backup(stack, tmp_path, kind):
    real = stack.call("backup")["results"]["name"]
    outside = tmp_path / "outside.tar.gz"
    outside.write_bytes((stack.home / "backups" / (real + ".tar.gz")).read_bytes())
    planted = stack.home / "backups" / "manual-20200101-000000-000000.tar.gz"
    {"symlink": lambda: os.symlink(outside, planted), "hardlink": lambda: os.link(outside, planted),
     "fifo": lambda: os.mkfifo(planted)}[kind]()
    try:
        before = profile_state(stack), names(stack), outside.read_bytes()
        assert planted.name[:-7] not in before[1]
        for cmd in ("restore", "delete_backup"):
            answer = stack.call(cmd, name="manual-20200101-000000-000000")
            assert answer["err"] == Err.NOT_EXISTS, answer
        assert (profile_state(stack), names(stack), outside.read_bytes()) == before
        assert os.path.lexists(planted)
    finally:
        planted.unlink()
        stack.call("delete_backup", name=real)


def truncated(data: bytes) -> bytes:
    return data[:len(data) // 2]


def flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


@pytest.mark.parametrize("damage", [truncated, flipped, lambda data: data[:-4], lambda data: b""],
                         ids=["half", "flipped", "no-trailer", "empty"])
def test_a_damaged_backup_is_9996_and_changes_nothing(stack, damage):
    assert stack.call("start", port=free_port())["err"] == 0
    name = stack.call("backup")["results"]["name"]
    path = stack.home / "backups" / (name + ".tar.gz")
    path.write_bytes(damage(path.read_bytes()))
    status = stack.call("status")["results"]
    before = profile_state(stack), names(stack)
    answer = stack.call("restore", name=name)
    assert answer["err"] == Err.DAMAGE, answer
    assert name in answer["msg"] and "nothing was changed" in answer["msg"]
    # Checked before the stop: qBittorrent runs on, and no automatic backup was made.
    assert stack.call("status")["results"]["pid"] == status["pid"]
    assert (profile_state(stack), names(stack)) == before
    assert stack.call("delete_backup", name=name)["err"] == 0


def test_a_full_disk_is_9990_and_leaves_no_partial_file(fresh_stack):
    directory = fresh_stack.home / "backups"
    directory.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700",
                              "fsi-test-full", str(directory)], capture_output=True, text=True)
    assert mounted.returncode == 0, mounted.stderr
    try:
        kept = fresh_stack.call("backup")["results"]["name"] + ".tar.gz"
        port = free_port()
        assert fresh_stack.call("start", port=port)["err"] == 0
        filler = directory / "filler"
        with open(filler, "wb", buffering=0) as handle:
            for _ in range(64):  # the tmpfs' size: it is full before the end
                try:
                    handle.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
        answer = fresh_stack.call("backup")
        assert answer["err"] == Err.SAVE, answer
        assert "No space left on device" in answer["msg"]
        assert sorted(os.listdir(directory)) == ["filler", kept]

        # A restore first makes an automatic backup: it cannot, so nothing is
        # restored and qBittorrent runs again on its port.
        answer = fresh_stack.call("restore", name=kept[:-len(".tar.gz")])
        assert answer["err"] == Err.SAVE, answer
        assert answer["results"]["running"] is True and answer["results"]["port"] == port
        assert accepting(port)
        assert sorted(os.listdir(directory)) == ["filler", kept]

        filler.unlink()
        answer = fresh_stack.call("backup")
        assert answer["err"] == 0, answer
        assert sorted(os.listdir(directory)) == sorted([kept, answer["results"]["name"] +
                                                        ".tar.gz"])
    finally:
        fresh_stack.call("stop")
        subprocess.run(["umount", str(directory)], check=True)
