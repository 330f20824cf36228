"""qbittorrent-fsi: switch qBittorrent on and off from a NAS web UI over FSI v2.1.

:func:`plugin.web.create_app` builds the WSGI app, :class:`plugin.settings.Settings`
configures it, :mod:`plugin.errors` is the error model. This file imports
nothing, so that the event listener (``python -m plugin.event_listener``)
stays at the interpreter's own size.
"""

__version__ = "0.1.0"
