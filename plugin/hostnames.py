"""Host names as a browser sends them in ``Host``: a DNS name or an IP literal.

Anything else in that header (a forged one) is neither, and is never used:
not in a link, not as a name the admin allowed.
"""
from __future__ import annotations

import ipaddress
import re

#: A DNS name (RFC 1123 labels), with an optional final dot.
_DNS_NAME = re.compile(r"(?=.{1,253}\.?\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?\Z")


def url_host(host: str) -> str | None:
    """``host`` as a URL's host part (IPv6 in brackets), or None if it is neither name nor IP."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host if _DNS_NAME.match(host) else None
    # A zone id (fe80::1%eth0) is percent-encoded in a URL.
    return "[%s]" % str(address).replace("%", "%25") if address.version == 6 else str(address)


def host_key(host: str) -> str | None:
    """``host`` (IPv6 with or without brackets) in the one form two spellings share, or None.

    DNS names compare without case and final dot, addresses by value
    (``::1`` is ``0:0::1``).
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare.lower().rstrip(".") if _DNS_NAME.match(bare) else None
