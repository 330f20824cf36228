"""Unit tests: backups on temp dirs (names, damaged archives, planted entries, keep, swap)."""
from __future__ import annotations

import errno
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.backup_service import BackupService
from plugin.backups import AUTOMATIC, MANUAL, BackupStore, exchange, parse_name
from plugin.commands import validate_backup_name
from plugin.errors import Err, FsiError
from plugin.lifecycle import QbittorrentService
from plugin.program_config import ProgramConfig
from plugin.qbt_profile import WebuiCredentials
from plugin.settings import Settings
from tests.fuzzing import json_values
from tests.test_lifecycle_unit import CONF, DummySupervisorClient

NAME = "manual-20260102-030405-060708"
LOGIN = ("admin", "secret12")


def make_profile(root: Path) -> Path:
    profile = root / "profile"
    (profile / "qBittorrent" / "config" / "rss").mkdir(parents=True)
    (profile / "qBittorrent" / "config" / "qBittorrent.conf").write_text(
        "[BitTorrent]\nSession\\Tags=x, y\n")
    (profile / "qBittorrent" / "config" / "categories.json").write_text('{"movies": {}}')
    (profile / "qBittorrent" / "config" / "rss" / "download_rules.json").write_text("{}")
    torrents = profile / "qBittorrent" / "data" / "BT_backup"
    torrents.mkdir(parents=True)
    for info_hash in ("aa" * 20, "bb" * 20):
        (torrents / (info_hash + ".fastresume")).write_bytes(b"d4:testi1ee")
        (torrents / (info_hash + ".torrent")).write_bytes(b"d4:infod4:name1:xee")
    (profile / "qBittorrent" / "data" / "logs").mkdir()
    (profile / "qBittorrent" / "data" / "logs" / "qbittorrent.log").write_text("log\n")
    return profile


def snapshot(path: Path) -> dict[str, object]:
    """Every entry below ``path``: file bytes, 'dir', or where a link points."""
    found: dict[str, object] = {}
    for entry in sorted(path.rglob("*")):
        key = str(entry.relative_to(path))
        if entry.is_symlink():
            found[key] = "link to %s" % os.readlink(entry)
        elif entry.is_dir():
            found[key] = "dir"
        else:
            found[key] = entry.read_bytes()
    return found


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return make_profile(tmp_path)


@pytest.fixture
def store(tmp_path: Path, profile: Path) -> BackupStore:
    return BackupStore(tmp_path / "backups", profile, keep=10)


def create(store: BackupStore, kind: str = MANUAL, keep_also=()) -> dict:
    return store.create(kind, 8080, *LOGIN, consistent=True, keep_also=keep_also)


def code_of(action, *args) -> int:
    with pytest.raises(FsiError) as caught:
        action(*args)
    return caught.value.code


def restore(store: BackupStore, name: str) -> None:
    with store.open(name) as source:
        store.restore(source)


# -- names -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "../manual-20260102-030405-060708", "backups/manual-20260102-030405-060708",
    "manual-20260102-030405-060708.tar.gz", "manual-20260102-030405-060708/",
    "manual-20261302-030405-060708", "daily-20260102-030405-060708", "", "..", ".",
    "manual-20260102-030405-060708\n", "MANUAL-20260102-030405-060708", 5, ["x"], True])
def test_a_name_is_one_the_plugin_gives_and_nothing_else(bad):
    assert parse_name(bad) is None
    assert code_of(validate_backup_name, bad) == Err.PARAMS


@given(st.text(max_size=40) | json_values)
def test_nothing_but_a_name_the_plugin_gives_passes(value):
    if parse_name(value) is not None:
        assert validate_backup_name(value) == value
    else:
        assert code_of(validate_backup_name, value) in (Err.PARAMS, Err.NO_INPUT)


def test_a_missing_name_is_no_input():
    assert code_of(validate_backup_name, None) == Err.NO_INPUT
    assert validate_backup_name(NAME) == NAME


# -- making, listing, restoring ------------------------------------------------


def test_a_backup_holds_config_and_torrents_and_nothing_else(store, profile):
    os.symlink("/etc/hostname", profile / "qBittorrent" / "config" / "planted")
    secret = profile.parent / "secret"
    secret.write_bytes(b"not for the archive")
    os.link(secret, profile / "qBittorrent" / "data" / "BT_backup" / "linked.fastresume")
    os.mkfifo(profile / "qBittorrent" / "data" / "BT_backup" / "fifo")
    record = create(store)
    assert record["torrents"] == 2 and record["consistent"] is True
    assert record["kind"] == MANUAL and record["size"] > 0
    with tarfile.open(store.directory / (record["name"] + ".tar.gz")) as tar:
        names = tar.getnames()
        assert all(member.isfile() or member.isdir() for member in tar.getmembers())
    assert names[0] == "backup.json" and names[-1] == "backup.end"
    assert "qBittorrent/config/categories.json" in names
    assert "qBittorrent/config/rss/download_rules.json" in names
    assert "qBittorrent/data/BT_backup/%s.fastresume" % ("aa" * 20) in names
    assert not [name for name in names if "logs" in name or "planted" in name
                or "linked" in name or "fifo" in name]
    assert (store.directory.stat().st_mode & 0o777) == 0o700
    assert os.listdir(store.directory) == [record["name"] + ".tar.gz"]


def test_restore_brings_back_both_directories_and_keeps_the_rest(store, profile):
    before = snapshot(profile)
    name = create(store)["name"]
    conf = profile / "qBittorrent" / "config" / "qBittorrent.conf"
    conf.write_text("[BitTorrent]\n")
    (profile / "qBittorrent" / "data" / "BT_backup" / ("aa" * 20 + ".fastresume")).unlink()
    (profile / "qBittorrent" / "data" / "BT_backup" / "new.fastresume").write_bytes(b"x")
    (profile / "qBittorrent" / "data" / "logs" / "qbittorrent.log").write_text("more\n")
    with store.open(name) as source:
        assert (source.facts.port, source.facts.username, source.facts.password) == (8080, *LOGIN)
        store.restore(source)
    after = snapshot(profile)
    assert after.pop("qBittorrent/data/logs/qbittorrent.log") == b"more\n"
    before.pop("qBittorrent/data/logs/qbittorrent.log")
    assert after == before


def test_a_profile_without_torrents_yet_restores_to_none(store, profile):
    torrents = profile / "qBittorrent" / "data" / "BT_backup"
    for entry in torrents.iterdir():
        entry.unlink()
    torrents.rmdir()
    name = create(store)["name"]
    assert store.records()[0]["torrents"] == 0
    torrents.mkdir()
    (torrents / "cc.fastresume").write_bytes(b"x")
    restore(store, name)
    assert list(torrents.iterdir()) == []


def test_records_are_newest_first(store):
    names = [create(store, kind)["name"] for kind in (MANUAL, AUTOMATIC, MANUAL)]
    assert [record["name"] for record in store.records()] == names[::-1]
    assert store.records()[1]["kind"] == AUTOMATIC
    assert BackupStore(store.directory.parent / "none", store.profile, 10).records() == []


def test_delete_removes_one_backup(store):
    first, second = create(store)["name"], create(store)["name"]
    store.delete(first)
    assert [record["name"] for record in store.records()] == [second]
    assert code_of(store.delete, first) == Err.NOT_EXISTS


# -- the keep policy -------------------------------------------------------------


def test_the_oldest_automatic_backups_go_first_then_the_oldest_manual(store):
    store.keep = 3
    old_manual = create(store, MANUAL)["name"]
    old_auto = create(store, AUTOMATIC)["name"]
    new_auto = create(store, AUTOMATIC)["name"]
    newest = create(store, MANUAL)["name"]
    assert {r["name"] for r in store.records()} == {old_manual, new_auto, newest}
    latest = create(store, MANUAL)["name"]
    assert {r["name"] for r in store.records()} == {old_manual, newest, latest}
    assert old_auto not in str(os.listdir(store.directory))
    create(store, MANUAL)
    assert old_manual not in {r["name"] for r in store.records()}


def test_the_backup_a_restore_comes_from_is_kept(store):
    store.keep = 2
    source = create(store, MANUAL)["name"]
    create(store, MANUAL)
    create(store, AUTOMATIC, keep_also=(source,))
    assert source in {r["name"] for r in store.records()}
    assert len(store.records()) == 2


# -- planted entries in the backups directory -------------------------------------


def plant(store: BackupStore, kind: str, target: Path) -> Path:
    path = store.directory / (NAME + ".tar.gz")
    store.directory.mkdir(exist_ok=True, mode=0o700)
    if kind == "symlink":
        os.symlink(target, path)
    elif kind == "hardlink":
        os.link(target, path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "directory", "fifo"])
def test_a_planted_entry_is_no_backup_and_nothing_outside_is_touched(store, profile, tmp_path,
                                                                     kind):
    good = create(store)["name"]
    outside = tmp_path / "elsewhere.tar.gz"
    outside.write_bytes((store.directory / (good + ".tar.gz")).read_bytes())
    planted = plant(store, kind, outside)
    before, outside_bytes = snapshot(profile), outside.read_bytes()
    assert code_of(restore, store, NAME) == Err.NOT_EXISTS
    assert code_of(store.delete, NAME) == Err.NOT_EXISTS
    assert NAME not in {record["name"] for record in store.records()}
    assert os.path.lexists(planted) and outside.read_bytes() == outside_bytes
    assert snapshot(profile) == before


def test_a_backups_directory_that_is_a_link_is_not_followed(store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, store.directory)
    assert code_of(store.records) == Err.LOAD
    assert code_of(create, store) == Err.LOAD
    assert list(elsewhere.iterdir()) == []


# -- damaged archives ---------------------------------------------------------------


def damaged(store: BackupStore, data: bytes) -> None:
    store.directory.mkdir(exist_ok=True, mode=0o700)
    (store.directory / (NAME + ".tar.gz")).write_bytes(data)


def archive(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as gz, tarfile.open(
            fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def member(name: str, data: bytes | None = b"", kind: bytes = tarfile.REGTYPE,
           link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if kind == tarfile.REGTYPE and data is not None:
        info.size = len(data)
    return info, data if kind == tarfile.REGTYPE else None


META = json.dumps({"format": 1, "created": "2026-01-02T03:04:05Z", "consistent": True,
                   "torrents": 0, "port": 8080,
                   "webui": {"username": "admin", "password": "secret12"}}).encode()
GOOD = [member("backup.json", META), member("qBittorrent/config", kind=tarfile.DIRTYPE),
        member("qBittorrent/config/qBittorrent.conf", b"[A]\n"),
        member("qBittorrent/data/BT_backup", kind=tarfile.DIRTYPE), member("backup.end")]


def with_member(extra: tuple[tarfile.TarInfo, bytes | None]) -> list:
    return GOOD[:-1] + [extra] + GOOD[-1:]


def test_the_crafted_good_archive_restores(store, profile):
    damaged(store, archive(GOOD))
    restore(store, NAME)
    assert (profile / "qBittorrent" / "config" / "qBittorrent.conf").read_bytes() == b"[A]\n"


@pytest.mark.parametrize("members", [
    with_member(member("qBittorrent/config/link", kind=tarfile.SYMTYPE, link="/etc/shadow")),
    with_member(member("qBittorrent/config/hard", kind=tarfile.LNKTYPE,
                       link="qBittorrent/config/qBittorrent.conf")),
    with_member(member("qBittorrent/config/fifo", kind=tarfile.FIFOTYPE)),
    with_member(member("qBittorrent/config/dev", kind=tarfile.CHRTYPE)),
    with_member(member("/etc/cron.d/x", b"x")),
    with_member(member("qBittorrent/config/../../../escape", b"x")),
    with_member(member("qBittorrent/config/./x", b"x")),
    with_member(member("qBittorrent/data/logs/x", b"x")),
    with_member(member("auth.json", b"{}")),
    with_member(member("qBittorrent/config/qBittorrent.conf", b"twice")),
    with_member(member("qBittorrent/config/nested/x", b"no parent")),
    with_member(member("qBittorrent/config/bad\nname", b"x")),
    GOOD[:-1],                                           # no end marker
    GOOD + [member("qBittorrent/config/late", b"x")],   # a member after it
    GOOD[1:],                                            # backup.json not first
    [GOOD[0]] + GOOD[3:],                                # no config
    [member("backup.json", META.replace(b'"port": 8080', b'"port": 70000'))] + GOOD[1:],
    [member("backup.json", META.replace(b'"admin"', b'"a b"'))] + GOOD[1:],
    [member("backup.json", b"not json")] + GOOD[1:],
    [member("backup.json", b"[]")] + GOOD[1:],
], ids=lambda members: "-")
def test_a_crafted_archive_is_damaged_and_changes_nothing(store, profile, members):
    damaged(store, archive(members))
    before = snapshot(profile)
    assert code_of(restore, store, NAME) == Err.DAMAGE
    assert snapshot(profile) == before
    assert not (profile.parent / "etc").exists()


def test_another_format_is_a_version_error(store):
    damaged(store, archive([member("backup.json", META.replace(b'"format": 1',
                                                               b'"format": 2'))] + GOOD[1:]))
    assert code_of(restore, store, NAME) == Err.VERSION


def test_truncated_or_flipped_archives_are_damaged_and_change_nothing(store, profile):
    data = (store.directory / (create(store)["name"] + ".tar.gz")).read_bytes()
    before = snapshot(profile)
    cuts = [data[:size] for size in (0, 1, 10, len(data) // 3, len(data) // 2, len(data) - 9,
                                     len(data) - 1)]
    flipped = [data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:]
               for at in (len(data) // 2, len(data) - 5)]
    for bad in cuts + flipped + [data + b"trailing garbage"]:
        damaged(store, bad)
        assert code_of(restore, store, NAME) == Err.DAMAGE, len(bad)
        assert snapshot(profile) == before
    # The listing shows them, so that they can be deleted.
    assert NAME in {record["name"] for record in store.records()}
    store.delete(NAME)


# -- the swap ---------------------------------------------------------------------


class SwapThatFails:
    """Swaps as the real one does, but fails at call number ``failing`` with ``error``."""

    def __init__(self, failing: int, error: int = errno.EIO) -> None:
        self.failing = failing
        self.error = error
        self.calls = 0

    def __call__(self, dir_fd: int, first: str, second: str) -> None:
        self.calls += 1
        if self.calls == self.failing:
            raise OSError(self.error, os.strerror(self.error))
        exchange(dir_fd, first, second)


@pytest.mark.parametrize("failing, error, code", [
    (1, errno.EIO, Err.SAVE), (2, errno.EIO, Err.SAVE), (1, errno.EINVAL, Err.INCOMPATIBLE),
    (2, errno.EINVAL, Err.INCOMPATIBLE)])
def test_a_swap_failing_half_way_leaves_the_previous_profile(store, profile, failing, error,
                                                             code):
    name = create(store)["name"]
    (profile / "qBittorrent" / "config" / "qBittorrent.conf").write_text("changed")
    (profile / "qBittorrent" / "data" / "BT_backup" / "new.fastresume").write_bytes(b"x")
    before = snapshot(profile)
    store._swap = SwapThatFails(failing, error)
    assert code_of(restore, store, name) == code
    assert snapshot(profile) == before  # no staged directories left either


def test_directories_left_by_an_interrupted_restore_are_removed(store, profile):
    name = create(store)["name"]
    leftover = profile / "qBittorrent" / ".config.restore-0badf00d"
    (leftover / "rss").mkdir(parents=True)
    restore(store, name)
    assert not leftover.exists()


# -- the service: restore puts the port and the login back, or nothing ---------------------


@pytest.fixture
def backups(tmp_path, profile, store):
    conf = tmp_path / "q.ini"
    conf.write_bytes(CONF)
    settings = Settings(home=tmp_path, profile=profile, program_conf=conf, busy_wait=0.05)
    webui = WebuiCredentials(tmp_path / "webui.json",
                             profile / "qBittorrent" / "config" / "qBittorrent.conf")
    webui.set(*LOGIN)
    return BackupService(QbittorrentService(settings, DummySupervisorClient(),
                                            ProgramConfig(conf), webui=webui), store)


def test_restore_while_stopped_sets_port_and_login_and_makes_an_undo_backup(backups, profile):
    name = backups.backup()["name"]
    backups.service.config.set_port(9090)
    backups.service.webui.set("other", "password2")
    (profile / "qBittorrent" / "data" / "BT_backup" / ("aa" * 20 + ".torrent")).unlink()
    answer = backups.restore(name)
    assert answer["restored"] == name and answer["torrents"] == 2 and not answer["running"]
    assert backups.service.config.port() == 8080 and answer["port"] == 8080
    assert backups.service.webui.get()["username"] == "admin"
    assert (profile / "qBittorrent" / "data" / "BT_backup" / ("aa" * 20 + ".torrent")).exists()
    assert backups.service.client.calls == []  # stopped before, so not started
    backups.restore(answer["undo"])
    assert backups.service.config.port() == 9090 and backups.service.webui.get()["username"] == "other"
    assert not (profile / "qBittorrent" / "data" / "BT_backup" / ("aa" * 20 + ".torrent")).exists()


def test_a_failed_swap_puts_the_port_and_the_login_back(backups, profile, store):
    name = backups.backup()["name"]
    backups.service.config.set_port(9090)
    backups.service.webui.set("other", "password2")
    before = snapshot(profile)
    store._swap = SwapThatFails(2)
    assert code_of(backups.restore, name) == Err.SAVE
    assert backups.service.config.port() == 9090 and backups.service.webui.get()["username"] == "other"
    assert snapshot(profile) == before


def test_a_damaged_backup_changes_nothing_not_even_an_undo_backup(backups, store):
    damaged(store, b"\x1f\x8b not really")
    assert code_of(backups.restore, NAME) == Err.DAMAGE
    assert [record["name"] for record in store.records()] == [NAME]
    assert backups.service.client.calls == []
