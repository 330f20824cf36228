"""Preparing the runtime directory (``FSI_HOME``) before supervisord starts.

Everything that changes at run time lives there: the supervisor socket,
logs, the rendered configs (the plugin rewrites the qBittorrent program's
port), the qBittorrent profile and the password hash. The checkout's
``conf/`` only holds templates, so running leaves ``git status`` clean.
"""
from __future__ import annotations

from plugin.atomic import write_atomically
from plugin.auth import PasswordFile
from plugin.conf_text import ConfTexts, render
from plugin.qbt_profile import WebuiCredentials, hand_profile_to_user, seed_profile
from plugin.settings import Settings


def prepare_home(settings: Settings, texts: ConfTexts | None = None) -> str | None:
    """Create what supervisord and qBittorrent need; return a new admin password to show.

    The live program config is written only when missing (it keeps the last
    port and an admin's edits); qBittorrent's config gets the preset's
    settings it lacks.
    """
    texts = texts or render(settings)
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Atomic writes: a file torn by an interruption would be kept for good,
    # since existing files are never overwritten.
    if not settings.program_conf.exists():
        write_atomically(settings.program_conf, texts.program.encode(), 0o644)
    if seed_profile(settings):
        # A fresh profile has no qBittorrent running on it: the one safe moment
        # besides a plugin start to give it known Web UI credentials, so that
        # a first `supervisorctl start qbittorrent` gets them too.
        WebuiCredentials.for_settings(settings).apply()
    hand_profile_to_user(settings)
    return PasswordFile(settings.auth_file).ensure(settings.password)
