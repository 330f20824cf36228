"""Backups of qBittorrent's settings and torrent list: the archive, its names, how many are kept.

A backup is ``<backups>/<name>.tar.gz``, a gzip'd tar laid out like the
profile: ``backup.json`` first (what the plugin adds: the Web UI port and
credentials, when it was made), then ``qBittorrent/config`` (qBittorrent.conf
with the preset, tags and Web UI login; categories.json; rss/; watched folders)
and ``qBittorrent/data/BT_backup`` (every torrent and its resume data), and
``backup.end`` last. Downloaded data, logs and the admin's password hash are
never in it.

Nothing here follows a link: entries are opened with O_NOFOLLOW relative to a
directory descriptor, and only regular files with one link and directories
are read or written, so an entry planted in the backups directory or the
profile never sends a read or a write elsewhere. An archive is read whole
(gzip checksum, every member's name and type) before anything is extracted;
extraction goes into new directories beside the live ones, which are then
swapped in with one ``renameat2(RENAME_EXCHANGE)`` each, undone if a later
swap fails. Callers serialize :meth:`BackupStore.create` and
:meth:`BackupStore.restore` (the service's lifecycle lock).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import gzip
import io
import json
import os
import re
import secrets
import shutil
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Collection, Iterator

import plugin
from plugin.errors import Err, FsiError
from plugin.qbt_profile import PASSWORD_LENGTH, USERNAME_PATTERN
from plugin.settings import Settings

MANUAL = "manual"
AUTOMATIC = "auto"
#: A backup's name: its kind and when it was made (UTC, to the microsecond).
NAME_PATTERN = re.compile(r"(manual|auto)-(\d{8}-\d{6}-\d{6})\Z")
_STAMP_FORMAT = "%Y%m%d-%H%M%S-%f"
SUFFIX = ".tar.gz"
FORMAT = 1
META = "backup.json"
#: The last member: tar readers stop quietly at a damaged header, so an
#: archive is known to be read to its end only when this was reached.
END = "backup.end"
#: The profile's directories a backup holds, as paths in the profile and the archive.
CONFIG = "qBittorrent/config"
TORRENTS = "qBittorrent/data/BT_backup"
ROOTS = (CONFIG, TORRENTS)
REQUIRED_FILE = CONFIG + "/qBittorrent.conf"
MAX_META_BYTES = 64 * 1024
#: Deeper directories are left out (qBittorrent's own are two levels deep).
MAX_DEPTH = 8
CHUNK = 1 << 16

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a planted FIFO must not block the open.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_RENAME_EXCHANGE = 2


def parse_name(name: Any) -> datetime | None:
    """When the backup ``name`` was made, or None if it is no name this plugin gives."""
    match = NAME_PATTERN.match(name) if isinstance(name, str) else None
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(2), _STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _kind(name: str) -> str:
    return name.split("-", 1)[0]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def exchange(dir_fd: int, first: str, second: str) -> None:
    """Swap two entries of one directory in a single step (``renameat2`` RENAME_EXCHANGE)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), first)
    if renameat2(dir_fd, os.fsencode(first), dir_fd, os.fsencode(second),
                 _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), first)


def keeps_name(base: str) -> bool:
    """Whether a file name can be in a backup: printable UTF-8 (one rule to write and to read)."""
    try:
        base.encode()
    except UnicodeError:
        return False
    return base.isprintable() and base not in ("", ".", "..") and "/" not in base


class DamagedArchive(Exception):
    """The archive is not one this plugin wrote, or not whole."""


@dataclass(frozen=True)
class Facts:
    """What ``backup.json`` says about a backup."""

    created: str
    consistent: bool
    torrents: int
    port: int | None
    username: str
    password: str

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "plugin": plugin.__version__, "created": self.created,
            "consistent": self.consistent, "torrents": self.torrents, "port": self.port,
            "webui": {"username": self.username, "password": self.password}}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Facts":
        """Parsed and checked; FsiError 9961 for another format, DamagedArchive for anything odd."""
        try:
            record = json.loads(data)
            if record["format"] != FORMAT:
                raise FsiError(Err.VERSION, "the backup has format %r; this plugin reads "
                               "format %d" % (record["format"], FORMAT))
            webui = record["webui"]
            facts = cls(record["created"], record["consistent"], record["torrents"],
                        record["port"], webui["username"], webui["password"])
        except (ValueError, TypeError, KeyError) as exc:
            raise DamagedArchive("backup.json is unreadable (%s)" % exc) from None
        low, high = PASSWORD_LENGTH
        if not (isinstance(facts.created, str) and type(facts.consistent) is bool
                and type(facts.torrents) is int and facts.torrents >= 0
                and (facts.port is None or type(facts.port) is int and 1 <= facts.port <= 65535)
                and isinstance(facts.username, str) and USERNAME_PATTERN.match(facts.username)
                and isinstance(facts.password, str) and low <= len(facts.password) <= high):
            raise DamagedArchive("backup.json has a value out of bounds")
        return facts


@dataclass(frozen=True)
class Backup:
    """An opened, fully checked backup: its file stays readable even if it is deleted."""

    name: str
    handle: IO[bytes]
    facts: Facts


class BackupStore:
    """The backups directory, and the profile directories a backup holds."""

    def __init__(self, directory: Path, profile: Path, keep: int,
                 swap: Callable[[int, str, str], None] = exchange) -> None:
        self.directory = Path(directory)
        self.profile = Path(profile)
        self.keep = keep
        self._swap = swap

    @classmethod
    def for_settings(cls, settings: Settings) -> "BackupStore":
        return cls(settings.home / "backups", settings.profile, settings.backup_keep)

    # -- listing and deleting --------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every backup, newest first; ``torrents``, ``consistent`` null if it is unreadable."""
        with self._directory() as dir_fd:
            if dir_fd is None:
                return []
            found = self._entries(dir_fd)
            newest = sorted(found, key=lambda name: (found[name][0], name), reverse=True)
            return [self._record(dir_fd, name, *found[name]) for name in newest]

    def delete(self, name: str) -> None:
        """Remove one backup; 9994 if ``name`` is no backup of this plugin's."""
        with self._directory() as dir_fd:
            self._open_entry(dir_fd, name).close()  # 9994 for anything but a plain file
            try:
                os.unlink(name + SUFFIX, dir_fd=dir_fd)
            except FileNotFoundError:
                raise self._missing(name) from None
            except OSError as exc:
                raise FsiError(Err.DELETE, "cannot delete backup %s: %s"
                               % (name, exc.strerror or exc)) from None

    # -- making one --------------------------------------------------------

    def create(self, kind: str, port: int | None, username: str, password: str,
               consistent: bool, keep_also: Collection[str] = ()) -> dict[str, Any]:
        """Archive the profile's config and torrents; 9990, and no file left, if it cannot write.

        Then the oldest backups beyond ``keep`` are removed, automatic ones
        first, never the new one nor those named in ``keep_also``.
        """
        with self._directory(create=True) as dir_fd:
            assert dir_fd is not None
            moment = datetime.now(timezone.utc)
            name = self._free_name(dir_fd, kind, moment)
            with _profile_trees(self.profile) as trees:
                facts = Facts(_iso(moment), consistent, _count_torrents(trees[TORRENTS]), port,
                              username, password)
                self._write(dir_fd, name, facts, trees)
            self._prune(dir_fd, {name, *keep_also})
            return self._record(dir_fd, name, *self._entries(dir_fd)[name])

    def _free_name(self, dir_fd: int, kind: str, moment: datetime) -> str:
        for entry in os.listdir(dir_fd):
            if entry.startswith(".") and entry.endswith(SUFFIX + ".tmp"):
                # Left by a crash: nothing else writes here while create runs.
                with contextlib.suppress(OSError):
                    os.unlink(entry, dir_fd=dir_fd)
        taken = set(os.listdir(dir_fd))
        name = "%s-%s" % (kind, moment.strftime(_STAMP_FORMAT))
        while name + SUFFIX in taken:  # a clock set back, or two in one microsecond
            moment = moment.replace(microsecond=(moment.microsecond + 1) % 1_000_000)
            name = "%s-%s" % (kind, moment.strftime(_STAMP_FORMAT))
        return name

    def _write(self, dir_fd: int, name: str, facts: Facts, trees: dict[str, int | None]) -> None:
        """Write to a temp file, fsync, rename: the backup appears whole or not at all."""
        temp = ".%s%s.tmp" % (name, SUFFIX)
        try:
            fd = os.open(temp, _CREATE_FLAGS, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            raise self._unwritable(exc) from None
        sink = _Sink(fd)
        try:
            gz = gzip.GzipFile(filename="", fileobj=sink, mode="wb",  # type: ignore[arg-type]
                               mtime=0)
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, META, facts.to_json())
                for root, tree_fd in trees.items():
                    _add_tree(tar, tree_fd, root, 0)
                _add_bytes(tar, END, b"")
            gz.close()
            sink.finish()
            os.rename(temp, name + SUFFIX, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except BaseException as exc:
            sink.abandon()
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            if isinstance(exc, _ReadFailed):
                raise _profile_unreadable(exc.args[0]) from None
            if isinstance(exc, OSError):
                raise self._unwritable(exc) from None
            raise

    def _prune(self, dir_fd: int, keep: set[str]) -> None:
        found = self._entries(dir_fd)
        excess = len(found) - self.keep
        if excess <= 0:
            return
        # Automatic backups go first, each kind oldest first.
        candidates = sorted((name for name in found if name not in keep),
                            key=lambda name: (_kind(name) != AUTOMATIC, found[name]))
        for name in candidates[:excess]:
            with contextlib.suppress(OSError):
                os.unlink(name + SUFFIX, dir_fd=dir_fd)

    # -- restoring ---------------------------------------------------------

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[Backup]:
        """Backup ``name``, read whole and checked: 9994, 9996 or 9961 before anything changes."""
        with self._directory() as dir_fd:
            handle = self._open_entry(dir_fd, name)
        with handle:
            yield Backup(name, handle, _read_archive(handle, name, None))

    def restore(self, backup: Backup) -> None:
        """Put the backup's config and torrents in the profile's place, both or neither."""
        places: list[_Place] = []
        extraction: _Extraction | None = None
        try:
            for root in ROOTS:
                places.append(_Place(self.profile, root))
            extraction = _Extraction()
            for place in places:
                extraction.add_root(place.root, *place.stage())
            _read_archive(backup.handle, backup.name, extraction)
            extraction.finish()
            self._swap_all([(place.parent_fd, place.leaf, place.staged) for place in places])
        except OSError as exc:
            raise FsiError(Err.SAVE, "cannot put backup %s in place (%s): nothing was changed"
                           % (backup.name, exc.strerror or exc)) from None
        finally:
            if extraction is not None:
                extraction.close()
            for place in places:
                place.clean_up()

    def _swap_all(self, pairs: list[tuple[int, str, str]]) -> None:
        done: list[tuple[int, str, str]] = []
        try:
            for parent_fd, live, staged in pairs:
                try:
                    self._swap(parent_fd, staged, live)
                except OSError as exc:
                    if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise FsiError(Err.INCOMPATIBLE, "the profile's file system cannot "
                                       "swap directories in one step: nothing was "
                                       "changed") from None
                    raise
                done.append((parent_fd, live, staged))
        except BaseException as failure:
            try:
                for parent_fd, live, staged in reversed(done):
                    self._swap(parent_fd, staged, live)  # a swap undoes itself
            except OSError as exc:
                raise FsiError(Err.SAVE, "a restore failed half way (%s) and could not be "
                               "undone (%s): restore the automatic backup it made"
                               % (failure, exc.strerror or exc)) from None
            raise
        for parent_fd, _, _ in pairs:
            os.fsync(parent_fd)

    # -- the backups directory ---------------------------------------------

    @contextlib.contextmanager
    def _directory(self, create: bool = False) -> Iterator[int | None]:
        """The backups directory's descriptor (None while there is none and ``create`` is false)."""
        if create:
            try:
                self.directory.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise self._unwritable(exc) from None
        try:
            dir_fd = os.open(self.directory, _DIR_FLAGS)
        except FileNotFoundError:
            yield None
            return
        except OSError as exc:
            raise self._unreadable(exc) from None
        try:
            yield dir_fd
        finally:
            os.close(dir_fd)

    def _entries(self, dir_fd: int) -> dict[str, tuple[datetime, int]]:
        """This plugin's backups in the directory: name -> (when made, size)."""
        found = {}
        for entry in os.listdir(dir_fd):
            name = entry[:-len(SUFFIX)] if entry.endswith(SUFFIX) else ""
            moment = parse_name(name)
            if moment is None:
                continue
            with contextlib.suppress(OSError):
                info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
                if _archived(info):
                    found[name] = (moment, info.st_size)
        return found

    def _open_entry(self, dir_fd: int | None, name: str) -> IO[bytes]:
        """The backup file, opened without following links; 9994 unless a plain file of ours."""
        if parse_name(name) is None:
            raise FsiError(Err.PARAMS, "not a backup name: %r" % name[:80])
        if dir_fd is None:
            raise self._missing(name)
        try:
            fd = os.open(name + SUFFIX, _READ_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise self._missing(name) from None
            raise self._unreadable(exc) from None
        if not _archived(os.fstat(fd)):  # a directory, FIFO, device, or a second name
            os.close(fd)
            raise self._missing(name)
        return open(fd, "rb")  # noqa: SIM115 (closed by the caller)

    def _record(self, dir_fd: int, name: str, moment: datetime, size: int) -> dict[str, Any]:
        record: dict[str, Any] = {"name": name, "kind": _kind(name), "created": _iso(moment),
                                  "size": size, "torrents": None, "consistent": None}
        with contextlib.suppress(FsiError, OSError, DamagedArchive, EOFError, zlib.error,
                                 tarfile.TarError):
            with self._open_entry(dir_fd, name) as handle:
                facts = _read_head(handle)
            record.update(torrents=facts.torrents, consistent=facts.consistent)
        return record

    def _missing(self, name: str) -> FsiError:
        return FsiError(Err.NOT_EXISTS, "no backup named %s (backups lists them)" % name)

    def _unreadable(self, exc: OSError) -> FsiError:
        return FsiError(Err.LOAD, "cannot read the backups directory %s: %s"
                        % (self.directory, exc.strerror or exc))

    def _unwritable(self, exc: OSError) -> FsiError:
        return FsiError(Err.SAVE, "cannot write the backup in %s: %s"
                        % (self.directory, exc.strerror or exc))


# -- writing -----------------------------------------------------------------


class _ReadFailed(Exception):
    """Reading the profile failed (as opposed to writing the archive)."""


class _Sink:
    """The temp file under gzip: keeps the first write error instead of raising it.

    gzip and tarfile then finish their own bookkeeping, and :meth:`finish`
    reports the error; after :meth:`abandon` nothing reaches the descriptor.
    """

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while self.fd is not None and self.error is None and view:
            try:
                view = view[os.write(self.fd, view):]
            except OSError as exc:
                self.error = exc
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self.error is not None:
            raise self.error
        assert self.fd is not None
        os.fsync(self.fd)
        fd, self.fd = self.fd, None
        os.close(fd)

    def abandon(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


@contextlib.contextmanager
def _profile_trees(profile: Path) -> Iterator[dict[str, int | None]]:
    """Descriptors of the profile's config and torrent directories (None: not there yet)."""
    fds: dict[str, int | None] = {}
    try:
        for root in ROOTS:
            fds[root] = _open_path(profile, root)
        if fds[CONFIG] is None:
            raise FsiError(Err.NOT_EXISTS, "qBittorrent's profile has no config yet: nothing "
                           "to back up")
        _check_required(fds[CONFIG])
        yield fds
    finally:
        for fd in fds.values():
            if fd is not None:
                os.close(fd)


def _open_path(profile: Path, relative: str, create: bool = False) -> int | None:
    """A directory below the profile, each step opened without following links."""
    try:
        fd = os.open(profile, _DIR_FLAGS)
    except OSError as exc:
        raise FsiError(Err.LOAD, "cannot open qBittorrent's profile %s: %s"
                       % (profile, exc.strerror or exc)) from None
    for part in relative.split("/"):
        try:
            made = False
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
                    made = True
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if made:
                _chown(child, os.fstat(fd))  # qBittorrent's user owns what is in its profile
        except FileNotFoundError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise FsiError(Err.LOAD, "cannot open %s in qBittorrent's profile (%s): a link "
                           "or not a directory" % (relative, exc.strerror or exc)) from None
        os.close(fd)
        fd = child
    return fd


def _check_required(config_fd: int) -> None:
    leaf = REQUIRED_FILE.rsplit("/", 1)[1]
    try:
        info = os.stat(leaf, dir_fd=config_fd, follow_symlinks=False)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise FsiError(Err.NOT_EXISTS, "qBittorrent's profile has no %s: nothing to back up"
                       % leaf)


def _count_torrents(fd: int | None) -> int:
    if fd is None:
        return 0
    try:
        with os.scandir(fd) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".fastresume")
                       and _archived(entry.stat(follow_symlinks=False)))
    except OSError as exc:
        raise _profile_unreadable(exc) from None


def _archived(info: os.stat_result) -> bool:
    """A regular file with no other name: all that is read from the profile or the backups."""
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def _profile_unreadable(exc: OSError) -> FsiError:
    return FsiError(Err.LOAD, "cannot read qBittorrent's profile: %s" % (exc.strerror or exc))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, fd: int | None, name: str, depth: int) -> None:
    """A directory and what it holds: directories and single-link regular files, nothing else."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
    tar.addfile(info)
    if fd is None or depth >= MAX_DEPTH:
        return
    try:
        names = sorted(os.listdir(fd))
    except OSError as exc:
        raise _ReadFailed(exc) from None
    for base in filter(keeps_name, names):
        try:
            child = os.open(base, _READ_FLAGS, dir_fd=fd)
        except OSError:
            continue  # a link (ELOOP), a socket (ENXIO), or gone
        try:
            info = os.fstat(child)
            if stat.S_ISDIR(info.st_mode):
                _add_tree(tar, child, "%s/%s" % (name, base), depth + 1)
            elif _archived(info):
                _add_file(tar, child, info, "%s/%s" % (name, base))
        finally:
            os.close(child)


def _add_file(tar: tarfile.TarFile, fd: int, info: os.stat_result, name: str) -> None:
    chunks = []
    try:
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
    except OSError as exc:
        raise _ReadFailed(exc) from None
    data = b"".join(chunks)
    member = tarfile.TarInfo(name)
    member.size, member.mode, member.mtime = len(data), 0o600, int(info.st_mtime)
    tar.addfile(member, io.BytesIO(data))


# -- reading -----------------------------------------------------------------


def _read_head(handle: IO[bytes]) -> Facts:
    """``backup.json`` alone, without reading the rest (for listings)."""
    with gzip.GzipFile(fileobj=handle, mode="rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        member = tar.next()
        if member is None or member.name != META or not member.isfile():
            raise DamagedArchive("no backup.json first")
        return Facts.from_json(_read_member(tar, member, MAX_META_BYTES))


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise DamagedArchive("%s is larger than %d bytes" % (member.name, limit))
    reader = tar.extractfile(member)
    assert reader is not None
    return reader.read()


def _read_archive(handle: IO[bytes], name: str, extract: "_Extraction | None") -> Facts:
    """Read every byte of the archive and check every member; hand each to ``extract``.

    9996 names what is wrong; reading stops at the first fault.
    """
    handle.seek(0)
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                facts = _Checker().read(tar, extract)
            while gz.read(CHUNK):  # to the gzip trailer: its checksum and length
                pass
    except (DamagedArchive, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FsiError(Err.DAMAGE, "backup %s is damaged (%s): nothing was changed"
                       % (name, exc or type(exc).__name__)) from None
    except OSError as exc:
        raise FsiError(Err.LOAD, "cannot read backup %s: %s" % (name, exc.strerror or exc)) \
            from None
    return facts


class _Checker:
    """The member rules: only directories and regular files, under the roots, in order."""

    def __init__(self) -> None:
        self.dirs: set[str] = set()
        self.files: set[str] = set()

    def read(self, tar: tarfile.TarFile, extract: "_Extraction | None") -> Facts:
        facts: Facts | None = None
        ended = False
        for member in tar:
            name = member.name
            if ended:
                raise DamagedArchive("a member after %s" % END)
            if facts is None:
                if name != META or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    raise DamagedArchive("it does not start with %s" % META)
                facts = Facts.from_json(_read_member(tar, member, MAX_META_BYTES))
                continue
            if name == END and member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ended = True
                continue
            self._check(member)
            if extract is None:
                _drain(tar, member)
            else:
                extract.place(tar, member)
        if not ended or facts is None:
            raise DamagedArchive("it ends before %s" % END)
        missing = [path for path in (*ROOTS, REQUIRED_FILE)
                   if path not in self.dirs | self.files]
        if missing:
            raise DamagedArchive("it lacks %s" % ", ".join(missing))
        return facts

    def _check(self, member: tarfile.TarInfo) -> None:
        name = member.name
        if not all(map(keeps_name, name.split("/"))):
            raise DamagedArchive("a member named %r" % name[:80])
        if name in self.dirs or name in self.files:
            raise DamagedArchive("%s twice" % name)
        if member.type == tarfile.DIRTYPE:
            kind = self.dirs
        elif member.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and not member.issparse():
            kind = self.files
        else:
            raise DamagedArchive("%s is neither a file nor a directory" % name)
        if name in ROOTS:
            if kind is not self.dirs:
                raise DamagedArchive("%s is not a directory" % name)
        elif name.rsplit("/", 1)[0] not in self.dirs:
            raise DamagedArchive("%s is not in a directory the archive holds before it"
                                 % name)
        kind.add(name)


def _drain(tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    reader = tar.extractfile(member)
    if reader is not None:
        while reader.read(CHUNK):
            pass


# -- extracting and swapping ---------------------------------------------------


class _Place:
    """One backed-up directory of the profile, and a new one staged beside it."""

    def __init__(self, profile: Path, root: str) -> None:
        self.root = root
        parent, self.leaf = root.rsplit("/", 1)
        fd = _open_path(profile, parent, create=True)
        assert fd is not None
        self.parent_fd = fd
        prefix = ".%s.restore-" % self.leaf
        self.staged = prefix + secrets.token_hex(4)
        for entry in os.listdir(fd):
            if entry.startswith(prefix):  # left by an interrupted restore
                with contextlib.suppress(OSError):
                    _remove(fd, entry)

    def stage(self) -> tuple[int, os.stat_result]:
        """A new, empty directory beside the live one, and who owns the live one."""
        try:
            owner = os.stat(self.leaf, dir_fd=self.parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            # No live directory yet: make an empty one, so that the swap has two sides.
            os.mkdir(self.leaf, 0o700, dir_fd=self.parent_fd)
            owner = os.fstat(self.parent_fd)
        os.mkdir(self.staged, 0o700, dir_fd=self.parent_fd)
        return os.open(self.staged, _DIR_FLAGS, dir_fd=self.parent_fd), owner

    def clean_up(self) -> None:
        """Remove what is at the staged name: the new tree if unused, else the old one."""
        with contextlib.suppress(OSError):
            _remove(self.parent_fd, self.staged)
        os.close(self.parent_fd)


def _remove(dir_fd: int, name: str) -> None:
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _chown(fd: int, owner: os.stat_result) -> None:
    if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
        os.fchown(fd, owner.st_uid, owner.st_gid)


class _Extraction:
    """Writes checked members into the staged directories, each opened below its parent's fd."""

    def __init__(self) -> None:
        self.dirs: dict[str, int] = {}
        self.owners: dict[str, os.stat_result] = {}

    def add_root(self, root: str, fd: int, owner: os.stat_result) -> None:
        self.dirs[root] = fd
        self.owners[root] = owner

    def place(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if member.name in self.dirs:
            return
        try:
            self._write(tar, member)
        except OSError as exc:
            raise FsiError(Err.SAVE, "cannot write %s into qBittorrent's profile (%s): "
                           "nothing was changed" % (member.name, exc.strerror or exc)) from None

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        parent, base = name.rsplit("/", 1)
        parent_fd = self.dirs[parent]
        owner = self._owner(name)
        if member.type == tarfile.DIRTYPE:
            os.mkdir(base, 0o700, dir_fd=parent_fd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
            self.dirs[name] = fd
            _chown(fd, owner)
            return
        fd = os.open(base, _CREATE_FLAGS, 0o600, dir_fd=parent_fd)
        try:
            reader = tar.extractfile(member)
            assert reader is not None
            while chunk := reader.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
            _chown(fd, owner)
        finally:
            os.close(fd)

    def _owner(self, name: str) -> os.stat_result:
        return next(owner for root, owner in self.owners.items() if name.startswith(root + "/"))

    def finish(self) -> None:
        """fsync every new directory and give the staged roots the live ones' owner."""
        for root, fd in self.dirs.items():
            os.fsync(fd)
            if root in self.owners:
                _chown(fd, self.owners[root])
        self.close()

    def close(self) -> None:
        for fd in self.dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.dirs = {}
