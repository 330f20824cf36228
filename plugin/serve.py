"""What supervisord runs for the plugin: ``python -m plugin.serve``, its web server.

An entry point of its own rather than the ``qbittorrent-fsi`` command's: that
command imports what ``install-conf`` needs (supervisor's config parser), 2 MB
that a web server running as long as supervisord has no use for.
"""
from __future__ import annotations

import logging
import sys

from plugin.parent import die_with_parent


def main() -> None:
    """Serve the FSI endpoint and the page with waitress until supervisord stops us."""
    # Before anything else: a plugin outliving a killed supervisord would keep
    # the next supervisord's plugin off the port.
    die_with_parent()
    from plugin.server import create_server
    from plugin.settings import Settings
    from plugin.web import create_app

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        sys.exit("qbittorrent-fsi: %s" % exc)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    create_server(create_app(settings), settings).run()


if __name__ == "__main__":
    main()
