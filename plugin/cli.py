"""The ``qbittorrent-fsi`` command: run the stack, serve the plugin, manage the password."""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import shutil
import sys
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.auth import PasswordFile
from plugin.conf_text import ProgramNames, render
from plugin.diagnostics import QBITTORRENT_BINARY
from plugin.errors import FsiError
from plugin.install_conf import (DEBIAN_CONF_D, DEBIAN_SUPERVISOR_URL, find_installs,
                                 install_conf, refuse_foreign, uninstall_conf)
from plugin.runtime import prepare_home
from plugin.settings import Settings

#: Where ``install-conf`` puts the programs' logs, one directory per install.
DEFAULT_LOG_ROOT = Path("/var/log")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)


def _installed_settings(conf_d: Path) -> Settings:
    """The settings of the install to act on: the one ``install-conf`` put into
    ``conf_d`` (with ``FSI_HOME`` set: the one of that runtime directory, if any),
    else the default runtime directory. ``FSI_*`` variables override its settings."""
    installs = find_installs(conf_d)
    if "FSI_HOME" in os.environ:
        home = str(Path(os.environ["FSI_HOME"]).absolute())
        installs = [install for install in installs if install["FSI_HOME"] == home]
    if len(installs) > 1:
        sys.exit("qbittorrent-fsi: %d installs in %s (FSI_HOME=%s): set FSI_HOME to pick one"
                 % (len(installs), conf_d,
                    ", ".join(install["FSI_HOME"] for install in installs)))
    try:
        settings = Settings.from_env({**installs[0], **os.environ} if installs else None)
    except ValueError as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    if "FSI_HOME" not in os.environ and not settings.auth_file.exists():
        sys.exit("qbittorrent-fsi: no install found (no %s, nothing in %s): set FSI_HOME to "
                 "the runtime directory" % (settings.auth_file, conf_d))
    return settings


def _warn_root(settings: Settings) -> None:
    if os.geteuid() == 0 and not settings.qbt_user:
        print("qbittorrent-fsi: qBittorrent will run as root; set FSI_QBT_USER to a "
              "system user to avoid that")


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
    _warn_root(settings)
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
    """supervisorctl against this install's supervisord."""
    settings = _installed_settings(args.conf_d)
    ctl = shutil.which("supervisorctl", path=os.path.dirname(sys.executable)) or "supervisorctl"
    if settings.supervisord_conf.exists():
        where = ["-c", str(settings.supervisord_conf)]
    else:  # a supervisord of the admin's: its socket, with the plugin's credentials
        where = ["-s", settings.supervisor_url]
        if settings.supervisor_username:
            where += ["-u", settings.supervisor_username, "-p", settings.supervisor_password]
    os.execvpe(ctl, [ctl, *where, *args.args], _supervisor_env())


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the FSI endpoint with waitress (what supervisord runs, as ``-m plugin.serve``)."""
    from plugin.serve import main as serve

    serve()


def cmd_passwd(args: argparse.Namespace) -> None:
    """Set the admin password; every token issued before stops working."""
    settings = _installed_settings(args.conf_d)
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
    if settings.initial_password_file.exists():
        settings.initial_password_file.unlink()
        print("qbittorrent-fsi: removed %s (the password set at install)"
              % settings.initial_password_file)


def cmd_install_conf(args: argparse.Namespace) -> None:
    """Write program snippets with absolute paths for an existing supervisord's conf.d."""
    settings = _settings()
    if "FSI_LOG_DIR" not in os.environ:
        # Outside the runtime directory: a missing data volume must not keep
        # the host's supervisord from starting (it checks log directories).
        settings = dataclasses.replace(settings, log_dir=DEFAULT_LOG_ROOT / ProgramNames
                                       .for_settings(settings).plugin)
    _warn_root(settings)
    texts = render(settings, args.supervisor_url or (
        settings.supervisor_url if "FSI_SUPERVISOR_URL" in os.environ else DEBIAN_SUPERVISOR_URL))
    dest = Path(args.dest).absolute()
    try:
        if not args.force:
            refuse_foreign(settings, dest)  # before anything is written
        # The runtime directory first: conf.d must not point at a half-prepared one.
        password = prepare_home(settings, texts)
        if password:
            print("qbittorrent-fsi: admin password (shown once): %s" % password, flush=True)
        written = install_conf(settings, texts, dest, args.force)
    except (ValueError, OSError, FsiError) as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    for path in written:
        print("qbittorrent-fsi: wrote %s" % path)
    print("qbittorrent-fsi: runtime directory %s; qBittorrent's port is in %s"
          % (settings.home, settings.program_conf))
    print("qbittorrent-fsi: now run `supervisorctl update`; the plugin listens on "
          "http://%s:%d/" % (settings.host, settings.port))


def cmd_uninstall_conf(args: argparse.Namespace) -> None:
    """Stop qBittorrent gracefully and take this install's programs out of supervisord."""
    settings = _installed_settings(Path(args.dest))
    if args.supervisor_url:
        settings = dataclasses.replace(settings, supervisor_url=args.supervisor_url)
    try:
        removed = uninstall_conf(settings, Path(args.dest).absolute(), args.purge)
    except (ValueError, OSError, FsiError) as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    for path in removed:
        print("qbittorrent-fsi: removed %s" % path)
    if not args.purge:
        print("qbittorrent-fsi: kept %s (qBittorrent's profile and settings); --purge "
              "removes it" % settings.home)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="qbittorrent-fsi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=cmd_run.__doc__).set_defaults(func=cmd_run)
    sub.add_parser("serve", help=cmd_serve.__doc__).set_defaults(func=cmd_serve)
    ctl = sub.add_parser("ctl", help=cmd_ctl.__doc__)
    ctl.add_argument("args", nargs=argparse.REMAINDER)
    passwd = sub.add_parser("passwd", help=cmd_passwd.__doc__)
    for finder in (ctl, passwd):
        finder.add_argument("--conf-d", type=Path, default=DEBIAN_CONF_D,
                            help="where to look for an install without FSI_HOME "
                                 "(default: %(default)s)")
    ctl.set_defaults(func=cmd_ctl)
    passwd.add_argument("--stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(func=cmd_passwd)
    install = sub.add_parser("install-conf", help=cmd_install_conf.__doc__)
    install.add_argument("--dest", required=True,
                         help="the supervisor include directory, e.g. /etc/supervisor/conf.d")
    install.add_argument("--supervisor-url",
                         help="that supervisord's RPC socket (default: FSI_SUPERVISOR_URL, "
                              "else Debian's %s)" % DEBIAN_SUPERVISOR_URL)
    install.add_argument("--force", action="store_true",
                         help="replace another install's snippets of the same names")
    install.set_defaults(func=cmd_install_conf)
    uninstall = sub.add_parser("uninstall-conf", help=cmd_uninstall_conf.__doc__)
    uninstall.add_argument("--dest", required=True, help="where install-conf wrote them")
    uninstall.add_argument("--supervisor-url",
                           help="that supervisord's RPC socket (default: the install's own)")
    uninstall.add_argument("--purge", action="store_true",
                           help="also remove the runtime directory and the logs")
    uninstall.set_defaults(func=cmd_uninstall_conf)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
