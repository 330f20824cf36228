"""Every supervisord config text the plugin writes, rendered from the settings.

The templates in ``conf/`` name their paths as ``%(ENV_FSI_*)s`` references
(supervisord's own syntax, so each file reads as a plain supervisor config).
Here they become absolute values, and the programs get the names that derive
from ``FSI_PROGRAM``: ``<program>`` for qBittorrent, ``<program>-fsi`` for
the plugin and ``<program>-fsi-events`` for its event listener. Both
``qbittorrent-fsi run`` (a supervisord of its own) and ``install-conf`` (a
supervisord the admin runs) write what :func:`render` returns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from importlib.resources import files

from plugin.ini_text import cut_section, without_sections
from plugin.settings import ENV_PREFIX, Settings

#: The templates, shipped inside the package (``plugin/conf`` links to the checkout's ``conf/``).
CONF_DIR = files("plugin") / "conf"
#: qBittorrent profile presets, by ``FSI_NETWORK``.
PRESETS = {"loopback": "qBittorrent-loopback.conf", "lan": "qBittorrent-lan.conf"}
#: Names of the programs in the templates.
TEMPLATE_PROGRAM = "qbittorrent"
TEMPLATE_PLUGIN = "qbittorrent-fsi"
TEMPLATE_LISTENER = "qbittorrent-fsi-events"
_ENV_REFERENCE = re.compile(r"%\(ENV_(\w+)\)s")
#: Settings a program's environment never carries: the admin password (only a
#: hash is kept), and what the command line names.
_NOT_PASSED = ("password", "python", "supervisor_url")
HEADER = "; Written by qbittorrent-fsi from its templates; run it again to change it.\n"


def template(name: str) -> str:
    """A template or preset shipped with the plugin."""
    return (CONF_DIR / name).read_text()


@dataclass(frozen=True)
class ProgramNames:
    """supervisord's names of one install's programs, all derived from ``FSI_PROGRAM``."""

    qbittorrent: str
    plugin: str
    listener: str

    @classmethod
    def for_settings(cls, settings: Settings) -> "ProgramNames":
        return cls(settings.program, "%s-fsi" % settings.program,
                   "%s-fsi-events" % settings.program)


@dataclass(frozen=True)
class ConfTexts:
    """The rendered files: the qBittorrent program, the plugin's programs, a main config."""

    program: str
    plugin: str
    supervisord: str


def expand_env(text: str, values: dict[str, str]) -> str:
    """Replace ``%(ENV_NAME)s`` by supervisor-escaped values; other ``%(...)s`` stay."""
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError("no value for %s in the template" % match.group(0))
        return values[match.group(1)].replace("%", "%%")

    return _ENV_REFERENCE.sub(value, text)


def _values(settings: Settings) -> dict[str, str]:
    return {"FSI_HOME": str(settings.home), "FSI_PROFILE": str(settings.profile),
            "FSI_PYTHON": settings.python, "FSI_QBT_USER": settings.qbittorrent_user,
            "FSI_STOP_GRACE": str(settings.stop_grace),
            "FSI_PROGRAM_CONF": str(settings.program_conf), "FSI_LOG_DIR": str(settings.log_dir)}


def plugin_environment(settings: Settings, supervisor_url: str) -> str:
    """The ``environment=`` pairs that give the plugin the settings it was installed with.

    Every setting that differs from its default is passed on, so that the
    plugin under any supervisord sees what the installing command saw.
    """
    defaults = Settings(home=settings.home)
    pairs = {"FSI_HOME": str(settings.home), "FSI_SUPERVISOR_URL": supervisor_url}
    for item in fields(Settings):
        value = getattr(settings, item.name)
        if item.name not in _NOT_PASSED and value != getattr(defaults, item.name):
            pairs[ENV_PREFIX + item.name.upper()] = str(value)
    return ",".join('%s="%s"' % (key, value.replace("%", "%%")) for key, value in pairs.items())


def _with_environment(section: str, environment: str) -> str:
    lines = section.rstrip("\n").split("\n")
    for index, line in enumerate(lines):
        if line.startswith("environment="):
            lines[index] = "%s,%s" % (line, environment)
            break
    else:
        lines.append("environment=" + environment)
    return "\n".join(lines) + "\n"


def _renamed(text: str, kind: str, old: str, new: str) -> str:
    return text.replace("[%s:%s]" % (kind, old), "[%s:%s]" % (kind, new))


def render(settings: Settings, supervisor_url: str | None = None) -> ConfTexts:
    """Every config text for ``settings``; ``supervisor_url`` is where the plugin finds
    supervisord (default: the settings' own, the socket of ``qbittorrent-fsi run``)."""
    names = ProgramNames.for_settings(settings)
    values = _values(settings)
    environment = plugin_environment(settings, supervisor_url or settings.supervisor_url)
    program = _renamed(template("qbittorrent.ini"), "program", TEMPLATE_PROGRAM,
                       names.qbittorrent)
    main = template("supervisord.conf")
    server = "program:" + TEMPLATE_PLUGIN
    listener = "eventlistener:" + TEMPLATE_LISTENER
    plugin = "\n".join((
        _with_environment(_renamed(cut_section(main, server), "program", TEMPLATE_PLUGIN,
                                   names.plugin), environment),
        _renamed(cut_section(main, listener), "eventlistener", TEMPLATE_LISTENER,
                 names.listener)))
    return ConfTexts(program=HEADER + expand_env(program, values),
                     plugin=HEADER + expand_env(plugin, values),
                     supervisord=HEADER + expand_env(
                         without_sections(main, {server, listener}) + "\n" + plugin, values))
