"""Build dist/qbittorrent-fsi_<version>-<revision>_all.deb from this checkout, offline.

The plugin package goes to /usr/lib/qbittorrent-fsi/plugin, a private
directory (its top-level name ``plugin`` stays out of dist-packages), and runs
on Debian's python3, bottle, waitress and supervisor; ``make install-unas``
lays out the U-NAS app and the nginx snippet; dpkg-deb packs the tree with
root as owner. Standard library only, so that a bare Debian builds it.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from email.utils import formatdate
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
PACKAGE = "qbittorrent-fsi"
LIB = Path("usr/lib") / PACKAGE
DOC = Path("usr/share/doc") / PACKAGE
MAINTAINER = "qbittorrent-fsi maintainers <maintainers@users.noreply.b-seed-9e7b0362.example>"
#: Files under /etc: the admin's to edit, kept by dpkg across upgrades.
CONFFILES = ["/etc/nginx/snippets/qbittorrent-fsi.conf"]
#: The package's own files: (source in the checkout, where, mode).
OWN_FILES = [("deb/qbittorrent-fsi", Path("usr/bin/qbittorrent-fsi"), 0o755),
             ("deb/python3", LIB / "python3", 0o755),
             ("deb/default", Path("usr/share") / PACKAGE / "default", 0o644),
             ("deb/copyright", DOC / "copyright", 0o644),
             ("docs/DEBIAN.md", DOC / "README.Debian", 0o644),
             ("deb/lintian-overrides", Path("usr/share/lintian/overrides") / PACKAGE, 0o644)]
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")
#: What Debian allows in a revision.
REVISION = re.compile(r"[A-Za-z0-9+.~]+\Z")


def upstream_version() -> str:
    """plugin.__version__, read without importing the checkout's code."""
    text = (CHECKOUT / "plugin" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"$', text, re.M).group(1)


def plugin_files() -> list[str]:
    """plugin/*.py and the package data pyproject.toml lists, relative to plugin/."""
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    patterns = ["*.py", *project["tool"]["setuptools"]["package-data"]["plugin"]]
    source = CHECKOUT / "plugin"
    return sorted({str(path.relative_to(source)) for pattern in patterns
                   for path in source.glob(pattern)})


def build_time() -> int:
    """SOURCE_DATE_EPOCH, else the last commit's time: the same checkout builds the same files."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    done = subprocess.run(["git", "-C", str(CHECKOUT), "log", "-1", "--format=%ct"],
                          capture_output=True, text=True)
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else int(time.time())


def changelog(version: str, when: int) -> bytes:
    return ("%s (%s) unstable; urgency=medium\n\n"
            "  * Package of qbittorrent-fsi %s, built from its checkout with make deb.\n\n"
            " -- %s  %s\n" % (PACKAGE, version, upstream_version(), MAINTAINER,
                               formatdate(when))).encode()


def copy(source: Path, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)  # a link's content: plugin/conf links to conf/
    target.chmod(mode)


def write_gzip(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                  filename="") as packed:
        packed.write(data)


def stage(root: Path, version: str, when: int) -> None:
    """The package's files under ``root``, as dpkg will install them."""
    for name in plugin_files():
        copy(CHECKOUT / "plugin" / name, root / LIB / "plugin" / name, 0o644)
    for name, where, mode in OWN_FILES:
        copy(CHECKOUT / name, root / where, mode)
    write_gzip(root / DOC / "changelog.Debian.gz", changelog(version, when))
    write_gzip(root / "usr/share/man/man1/qbittorrent-fsi.1.gz",
               (HERE / "qbittorrent-fsi.1").read_bytes())
    env = {name: value for name, value in os.environ.items() if not name.startswith("FSI_")}
    subprocess.run(["make", "-s", "-C", str(CHECKOUT), "install-unas", "DESTDIR=%s" % root,
                    "UNAS_DIR=/unas", "NGINX_SNIPPETS=/etc/nginx/snippets", "FSI_PORT=8086"],
                   env=env, check=True)


def normalize(root: Path, when: int) -> None:
    """Modes 0755/0644 whatever the builder's umask, and one time on every file."""
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.is_symlink():
            executable = path.is_dir() or path.stat().st_mode & 0o100
            path.chmod(0o755 if executable else 0o644)
        os.utime(path, (when, when), follow_symlinks=False)


def control(root: Path, version: str) -> str:
    files = [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
    kib = sum(-(-path.stat().st_size // 1024) for path in files) + \
        sum(1 for path in root.rglob("*") if not path.is_file() or path.is_symlink())
    return (HERE / "control").read_text().format(version=version, installed_size=kib,
                                                 maintainer=MAINTAINER)


def md5sums(root: Path) -> str:
    lines = []
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_file() and not path.is_symlink() and "/" + name not in CONFFILES:
            lines.append("%s  %s\n" % (hashlib.md5(path.read_bytes()).hexdigest(), name))
    return "".join(lines)


def build(revision: str, dist: Path) -> Path:
    if not REVISION.match(revision):
        raise SystemExit("build.py: a Debian revision is letters, digits and + . ~, not %r"
                         % revision)
    version = "%s-%s" % (upstream_version(), revision)
    when = build_time()
    with tempfile.TemporaryDirectory(prefix="qbittorrent-fsi-deb-") as temp:
        root = Path(temp) / "root"
        stage(root, version, when)
        fields, sums = control(root, version), md5sums(root)
        meta = root / "DEBIAN"
        meta.mkdir()
        for name in MAINTAINER_SCRIPTS:
            copy(HERE / name, meta / name, 0o755)
        (meta / "conffiles").write_text("".join(path + "\n" for path in CONFFILES))
        (meta / "md5sums").write_text(sums)
        (meta / "control").write_text(fields)
        normalize(root, when)
        dist.mkdir(parents=True, exist_ok=True)
        deb = dist / ("%s_%s_all.deb" % (PACKAGE, version))
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
                       env={**os.environ, "SOURCE_DATE_EPOCH": str(when)}, check=True,
                       stdout=subprocess.DEVNULL)
    return deb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--revision", default="1", help="the Debian revision (default: 1)")
    parser.add_argument("--dist", type=Path, default=CHECKOUT / "dist",
                        help="where the .deb goes (default: dist/ in the checkout)")
    args = parser.parse_args()
    print(build(args.revision, args.dist.absolute()))


if __name__ == "__main__":
    main()
