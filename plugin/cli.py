"""The ``qbittorrent-fsi`` command: run the stack, serve the plugin, manage the password."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import shutil
import sys
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.auth import PasswordFile
from plugin.conf_text import render
from plugin.diagnostics import QBITTORRENT_BINARY
from plugin.errors import FsiError
from plugin.install_conf import DEBIAN_SUPERVISOR_URL, install_conf
from plugin.runtime import prepare_home
from plugin.settings import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)


def _supervisor_env() -> dict[str, str]:
    """supervisord's environment: ours, less the password.

    The password only seeds the hash file (prepare_home did that); the
    rendered config gives the plugin every other setting.
    """
    return {name: value for name, value in os.environ.items() if name != "FSI_PASSWORD"}


def cmd_run(args: argparse.Namespace) -> None:
    """Prepare FSI_HOME and run supervisord in the foreground (Ctrl-C stops everything)."""
    settings = _settings()
    if shutil.which(QBITTORRENT_BINARY) is None:
        sys.exit("qbittorrent-fsi: %s is not installed. On Debian/Ubuntu: "
                 "sudo apt-get install -y qbittorrent-nox" % QBITTORRENT_BINARY)
    texts = render(settings)
    try:
        password = prepare_home(settings, texts)
        write_atomically(settings.supervisord_conf, texts.supervisord.encode(), 0o600)
    except (ValueError, OSError) as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    print("qbittorrent-fsi: runtime directory %s" % settings.home)
    if os.geteuid() == 0 and not settings.qbt_user:
        print("qbittorrent-fsi: qBittorrent will run as root; set FSI_QBT_USER to a "
              "system user to avoid that")
    base = "http://%s:%d/" % (settings.host, settings.port)
    print("qbittorrent-fsi: page %s" % base)
    print("qbittorrent-fsi: FSI endpoint %sinclude/index.php (POST)" % base)
    if password:
        print("qbittorrent-fsi: admin password (shown once; change it with `make passwd` "
              "or `qbittorrent-fsi passwd`): %s" % password)
    print("qbittorrent-fsi: press Ctrl-C to stop qBittorrent and the plugin", flush=True)
    supervisord = shutil.which("supervisord", path=os.path.dirname(sys.executable)) or "supervisord"
    os.execvpe(supervisord, [supervisord, "-n", "-c", str(settings.supervisord_conf)],
               _supervisor_env())


def cmd_ctl(args: argparse.Namespace) -> None:
    """supervisorctl against this stack's supervisord."""
    settings = _settings()
    ctl = shutil.which("supervisorctl", path=os.path.dirname(sys.executable)) or "supervisorctl"
    os.execvpe(ctl, [ctl, "-c", str(settings.supervisord_conf), *args.args], _supervisor_env())


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the FSI endpoint with waitress (what supervisord runs)."""
    from plugin.server import create_server
    from plugin.web import create_app

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    create_server(create_app(settings), settings).run()


def cmd_passwd(args: argparse.Namespace) -> None:
    """Set the admin password; every token issued before stops working."""
    settings = _settings()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New admin password: ")
        if password != getpass.getpass("Repeat it: "):
            sys.exit("qbittorrent-fsi: the passwords differ; nothing changed")
    if len(password) < 8:
        sys.exit("qbittorrent-fsi: use at least 8 characters; nothing changed")
    PasswordFile(settings.auth_file).set(password)
    print("qbittorrent-fsi: password changed; logged-in sessions must log in again")


def cmd_install_conf(args: argparse.Namespace) -> None:
    """Write program snippets with absolute paths for an existing supervisord's conf.d."""
    settings = _settings()
    texts = render(settings, args.supervisor_url)
    try:
        # The runtime directory first: conf.d must not point at a half-prepared one.
        password = prepare_home(settings, texts)
        if password:
            print("qbittorrent-fsi: admin password (shown once): %s" % password, flush=True)
        written = install_conf(settings, texts, Path(args.dest).absolute())
    except (ValueError, OSError, FsiError) as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    for path in written:
        print("qbittorrent-fsi: wrote %s" % path)
    print("qbittorrent-fsi: runtime directory %s; qBittorrent's port is in %s"
          % (settings.home, settings.program_conf))
    print("qbittorrent-fsi: now run `supervisorctl update`; the plugin listens on "
          "http://%s:%d/" % (settings.host, settings.port))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="qbittorrent-fsi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=cmd_run.__doc__).set_defaults(func=cmd_run)
    sub.add_parser("serve", help=cmd_serve.__doc__).set_defaults(func=cmd_serve)
    ctl = sub.add_parser("ctl", help=cmd_ctl.__doc__)
    ctl.add_argument("args", nargs=argparse.REMAINDER)
    ctl.set_defaults(func=cmd_ctl)
    passwd = sub.add_parser("passwd", help=cmd_passwd.__doc__)
    passwd.add_argument("--stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(func=cmd_passwd)
    install = sub.add_parser("install-conf", help=cmd_install_conf.__doc__)
    install.add_argument("--dest", required=True,
                         help="the supervisor include directory, e.g. /etc/supervisor/conf.d")
    install.add_argument("--supervisor-url", default=DEBIAN_SUPERVISOR_URL,
                         help="that supervisord's RPC socket (default: %(default)s, Debian's)")
    install.set_defaults(func=cmd_install_conf)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
