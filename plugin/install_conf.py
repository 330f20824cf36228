"""Program snippets for a supervisord the plugin did not start (Debian's, a NAS's).

``install-conf --dest DIR`` writes, for ``FSI_PROGRAM=<program>``:

* ``DIR/<program>-fsi.conf``: the plugin's web server and its event
  listener, with their settings in an ``environment=`` line;
* ``DIR/<program>.conf``: a symlink to the live qBittorrent program config
  (``FSI_PROGRAM_CONF``), whose ``--webui-port`` the plugin rewrites. The
  file stays in the runtime directory so that the plugin never needs to
  write into the supervisor config directory; supervisord follows the link.
"""
from __future__ import annotations

from pathlib import Path

from plugin.atomic import write_atomically
from plugin.conf_text import ConfTexts, ProgramNames
from plugin.program_config import ProgramConfig
from plugin.settings import Settings

DEBIAN_SUPERVISOR_URL = "unix:///var/run/supervisor.sock"


def install_conf(settings: Settings, texts: ConfTexts, dest: Path) -> list[Path]:
    """Write the snippets into ``dest`` (a supervisor ``conf.d``); return what was written.

    A live program config that exists already keeps its Web UI port.
    """
    names = ProgramNames.for_settings(settings)
    dest.mkdir(parents=True, exist_ok=True)
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    live = ProgramConfig(settings.program_conf, settings.program)
    port = live.port() if settings.program_conf.exists() else None
    write_atomically(settings.program_conf, texts.program.encode(), 0o644)
    if port is not None:
        live.set_port(port)
    link = dest / ("%s.conf" % names.qbittorrent)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(settings.program_conf)
    plugin_conf = dest / ("%s.conf" % names.plugin)
    write_atomically(plugin_conf, texts.plugin.encode(), 0o644)
    return [plugin_conf, link]
