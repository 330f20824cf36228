"""Program snippets for a supervisord the plugin did not start (Debian's, a NAS's).

``install-conf --dest DIR`` writes, for ``FSI_PROGRAM=<program>``:

* ``DIR/<program>-fsi.conf``: the plugin's web server and its event
  listener, with their settings in an ``environment=`` line (mode 0600: it
  may hold supervisord's socket password);
* ``DIR/<program>.conf``: a symlink to the live qBittorrent program config
  (``FSI_PROGRAM_CONF``), whose ``--webui-port`` the plugin rewrites. The
  file stays in the runtime directory so that the plugin never needs to
  write into the supervisor config directory; supervisord follows the link.

``uninstall-conf`` takes exactly those two away again.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.states import ProcessStates

import plugin
from plugin.atomic import write_atomically
from plugin.conf_text import CONF_DIR, ConfTexts, ProgramNames
from plugin.errors import FsiError
from plugin.ownership import exposed_paths, take_back
from plugin.program_config import ProgramConfig
from plugin.rpc_client import Faults, SupervisorClient, SupervisordDown, SupervisorFault
from plugin.settings import Settings

DEBIAN_SUPERVISOR_URL = "unix:///var/run/supervisor.sock"
DEBIAN_CONF_D = Path("/etc/supervisor/conf.d")
#: States in which the program has no process left.
_DOWN = (ProcessStates.STOPPED, ProcessStates.EXITED, ProcessStates.FATAL)


def snippet_paths(settings: Settings, dest: Path) -> tuple[Path, Path]:
    """(the plugin's snippet, the link to the qBittorrent program) in ``dest``."""
    names = ProgramNames.for_settings(settings)
    return dest / ("%s.conf" % names.plugin), dest / ("%s.conf" % names.qbittorrent)


def snippet_environment(path: Path) -> dict[str, str] | None:
    """The ``FSI_*`` settings of a plugin snippet ``install-conf`` wrote; None for others."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if "qbittorrent-fsi" not in text.split("\n", 1)[0]:
        return None
    for line in text.splitlines():
        if line.startswith("environment=") and "FSI_HOME=" in line:
            pairs = dict_of_key_value_pairs(line[len("environment="):])
            return {key: value.replace("%%", "%") for key, value in pairs.items()
                    if key.startswith("FSI_")}
    return None


def find_installs(dest: Path = DEBIAN_CONF_D) -> list[dict[str, str]]:
    """The settings of every plugin ``install-conf`` put into ``dest``."""
    found = [snippet_environment(path) for path in sorted(dest.glob("*-fsi.conf"))]
    return [environment for environment in found if environment is not None]


def refuse_foreign(settings: Settings, dest: Path) -> None:
    """ValueError when ``dest`` holds another install's snippets of the same names."""
    plugin_conf, link = snippet_paths(settings, dest)
    if plugin_conf.exists():
        theirs = (snippet_environment(plugin_conf) or {}).get("FSI_HOME")
        if theirs != str(settings.home):
            raise ValueError("%s belongs to another install (FSI_HOME=%s): choose another "
                             "FSI_PROGRAM, or pass --force to replace it" % (plugin_conf, theirs))
    if link.is_symlink() and Path(os.readlink(link)) != settings.program_conf or \
            link.exists() and not link.is_symlink():
        raise ValueError("%s is not this install's program: choose another FSI_PROGRAM, or "
                         "pass --force to replace it" % link)


def install_conf(settings: Settings, texts: ConfTexts, dest: Path,
                 force: bool = False) -> list[Path]:
    """Write the snippets into ``dest`` (a supervisor ``conf.d``); return what was written.

    A live program config that exists already keeps its Web UI port.
    """
    if not force:
        refuse_foreign(settings, dest)
    dest.mkdir(parents=True, exist_ok=True)
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    live = ProgramConfig(settings.program_conf, settings.program)
    port = _live_port(live)
    write_atomically(settings.program_conf, texts.program.encode(), 0o644)
    if port is not None:
        live.set_port(port)
    plugin_conf, link = snippet_paths(settings, dest)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(settings.program_conf)
    write_atomically(plugin_conf, texts.plugin.encode(), 0o600)
    secure(settings, dest)
    return [plugin_conf, link]


def _live_port(live: ProgramConfig) -> int | None:
    """The port the live program config names, if it is there and names this program."""
    if not live.path.exists():
        return None
    try:
        return live.port()
    except FsiError:
        return None  # written for another program name: the template's port it is


def secure(settings: Settings, dest: Path) -> None:
    """Make sure qBittorrent's user cannot change what supervisord runs (or refuse).

    What this install owns is taken back (repairing an older layout that
    gave the runtime directory to that user); anything else that user may
    write on the way (a parent directory, conf.d, the plugin's own files) is
    refused, since fixing it is the admin's decision.
    """
    user = settings.qbt_user
    if not user:
        return
    ours = [settings.home, settings.log_dir, *snippet_paths(settings, dest),
            *(path for path in settings.home.iterdir() if path != settings.profile),
            *settings.log_dir.iterdir()]
    for path in exposed_paths(ours, user):
        if path in ours:
            take_back(path)
    # The templates' own directory: in a checkout plugin/conf is a link to conf/.
    templates = Path(CONF_DIR).resolve()
    others = [dest, settings.program_conf, Path(plugin.__file__).parent, templates]
    exposed = exposed_paths(ours + others, user)
    if exposed:
        raise ValueError("%s may change what supervisord runs as root through: %s; make "
                         "these owned by root and not writable by others"
                         % (user, ", ".join(map(str, exposed))))


def uninstall_conf(settings: Settings, dest: Path, purge: bool = False) -> list[Path]:
    """Stop qBittorrent gracefully, take this install's snippets out of ``dest`` and out
    of supervisord; with ``purge`` the runtime directory too. Returns what was removed.

    A supervisord that is not running runs nothing of the install: the snippets
    just go, so that it never starts the programs again.
    """
    snippets = [path for path in snippet_paths(settings, dest)
                if path.is_symlink() or path.exists()]
    if snippets:  # else supervisord has nothing of this install to drop
        client: SupervisorClient | None = SupervisorClient.for_settings(settings)
        names = ProgramNames.for_settings(settings)
        try:
            _stop_gracefully(client, names.qbittorrent, settings.stop_grace)
        except SupervisordDown:
            client = None
        for path in snippets:
            path.unlink()
        if client is not None:
            _, _, gone = client.reload_config()
            for group in (names.qbittorrent, names.plugin, names.listener):
                if group in gone:
                    client.remove_group(group)
    removed = list(snippets)
    if purge:
        for path in (settings.home, settings.log_dir):
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
    return removed


def _stop_gracefully(client: SupervisorClient, program: str, grace: float) -> None:
    """SIGTERM through supervisord and wait while qBittorrent saves its resume data."""
    try:
        client.stop_process(program)
    except SupervisorFault as fault:
        if fault.code in (Faults.BAD_NAME, Faults.NOT_RUNNING):
            return
        raise
    deadline = time.monotonic() + grace + 30  # supervisord SIGKILLs after the grace
    while client.process_info(program)["state"] not in _DOWN:
        if time.monotonic() > deadline:
            raise ValueError("qBittorrent did not stop within %d s" % grace)
        time.sleep(0.2)
