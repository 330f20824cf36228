"""Program snippets for a supervisord the plugin did not start (Debian's, a NAS's).

The project's conf files take their paths from ``%(ENV_FSI_HOME)s`` and
friends, which ``qbittorrent-fsi run`` puts in supervisord's environment. A
stock supervisord has no such variables, so this renders the same two
programs with absolute paths:

* ``<dest>/qbittorrent-fsi.conf``: the plugin's web server, with its
  settings in an ``environment=`` line;
* ``<dest>/qbittorrent.conf``: a symlink to ``$FSI_HOME/qbittorrent.ini``,
  the live qBittorrent program whose ``--webui-port`` the plugin rewrites.
  The file stays in the runtime directory so that the plugin never needs to
  write into the supervisor config directory; supervisord follows the link.
"""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from plugin.atomic import write_atomically
from plugin.ini_text import cut_section
from plugin.program_config import ProgramConfig
from plugin.runtime import CONF_DIR
from plugin.settings import ENV_PREFIX, Settings

DEBIAN_SUPERVISOR_URL = "unix:///var/run/supervisor.sock"
PLUGIN_PROGRAM = "qbittorrent-fsi"
EVENT_LISTENER = "qbittorrent-fsi-events"
_ENV_REFERENCE = re.compile(r"%\(ENV_(\w+)\)s")


def expand_env(text: str, values: dict[str, str]) -> str:
    """Replace ``%(ENV_NAME)s`` by supervisor-escaped values; other ``%(...)s`` stay."""
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError("no value for %s in the template" % match.group(0))
        return values[match.group(1)].replace("%", "%%")

    return _ENV_REFERENCE.sub(value, text)


def with_environment(section_text: str, settings: Settings, supervisor_url: str) -> str:
    """The section with the plugin's settings added to (or as) its ``environment=`` line.

    Every setting that differs from its default is passed on, so that the
    plugin under a stock supervisord sees what ``install-conf`` was run with.
    """
    defaults = Settings(home=settings.home)
    pairs = {"FSI_HOME": str(settings.home), "FSI_SUPERVISOR_URL": supervisor_url}
    for item in fields(Settings):
        value = getattr(settings, item.name)
        if item.name not in ("password", "python", "supervisor_url") and \
                value != getattr(defaults, item.name):
            pairs[ENV_PREFIX + item.name.upper()] = str(value)
    ours = ",".join('%s="%s"' % (key, value.replace("%", "%%")) for key, value in pairs.items())
    lines = section_text.rstrip("\n").split("\n")
    for index, line in enumerate(lines):
        if line.startswith("environment="):
            lines[index] = "%s,%s" % (line, ours)
            break
    else:
        lines.append("environment=" + ours)
    return "\n".join(lines) + "\n"


def render_plugin_program(settings: Settings, supervisor_url: str,
                          conf_dir: Path = CONF_DIR) -> str:
    # The plugin and its event listener (which keeps the status cache true)
    # read the same settings, so both get the same environment= line.
    main_conf = (conf_dir / "supervisord.conf").read_text()
    values = {"FSI_HOME": str(settings.home), "FSI_PYTHON": settings.python}
    sections = [with_environment(expand_env(cut_section(main_conf, name), values), settings,
                                 supervisor_url)
                for name in ("program:%s" % PLUGIN_PROGRAM, "eventlistener:%s" % EVENT_LISTENER)]
    return ("; Written by `qbittorrent-fsi install-conf`; run it again to change it.\n"
            + "\n".join(sections))


def render_qbittorrent_program(settings: Settings, conf_dir: Path = CONF_DIR) -> str:
    template = (conf_dir / "qbittorrent.ini").read_text().replace(
        "[program:%s]" % Settings.program, "[program:%s]" % settings.program)
    return expand_env(template, {
        "FSI_HOME": str(settings.home), "FSI_PROFILE": str(settings.profile),
        "FSI_QBT_USER": settings.qbittorrent_user, "FSI_STOP_GRACE": str(settings.stop_grace)})


def install_conf(settings: Settings, dest: Path, supervisor_url: str,
                 conf_dir: Path = CONF_DIR) -> list[Path]:
    """Write the snippets into ``dest`` (a supervisor ``conf.d``); return what was written.

    A live program config that exists already keeps its Web UI port.
    """
    dest.mkdir(parents=True, exist_ok=True)
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    live = ProgramConfig(settings.program_conf, settings.program)
    port = live.port() if settings.program_conf.exists() else None
    write_atomically(settings.program_conf, render_qbittorrent_program(settings, conf_dir)
                     .encode(), 0o644)
    if port is not None:
        live.set_port(port)
    link = dest / ("%s.conf" % settings.program)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(settings.program_conf)
    plugin_conf = dest / ("%s.conf" % PLUGIN_PROGRAM)
    write_atomically(plugin_conf, render_plugin_program(settings, supervisor_url, conf_dir)
                     .encode(), 0o644)
    return [plugin_conf, link]
