"""qbittorrent-fsi: switch qBittorrent on and off from a NAS web UI over FSI v2.1.

The public surface is small: :func:`create_app` builds the WSGI app,
:class:`Settings` configures it, :class:`FsiError` and :class:`Err` are the
error model. Everything else is internal.
"""
from plugin.errors import Err, FsiError
from plugin.settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings):  # noqa: ANN201 - bottle.Bottle, imported lazily
    from plugin.web import create_app as _create_app

    return _create_app(settings)


__all__ = ["Err", "FsiError", "Settings", "create_app", "__version__"]
