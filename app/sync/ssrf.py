"""Which tracker URLs the service may call: public https hosts, or hosts an operator allowed.

A `base_url` is refused when its host is an IP literal, or resolves, to an address that is not
public unicast: loopback, private, link-local, shared, reserved, multicast, and the IPv6 ranges
that lead to such addresses (NAT64, 6to4, Teredo, IPv4-compatible and -mapped, site-local,
unique local); an IPv4 literal must be written in canonical dotted decimal. Hosts in
`BB_TRACKER_ALLOWED_HOSTS` (matched as written, case-insensitively) are exempt and may use
http: that is how a self-hosted tracker on the LAN is configured.
"""

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    pass


def resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"{host} does not resolve") from exc
    return sorted({str(info[4][0]) for info in infos})


# Ranges `is_global` lets through (or that depend on the Python version) whose traffic ends
# somewhere other than the address says: translated or tunnelled IPv4 (NAT64, 6to4, Teredo,
# IPv4-compatible, IPv4-mapped), and local-only IPv6 (site-local, unique local).
_NOT_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "::/96",  # IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped
        "fec0::/10",  # site-local (deprecated)
        "fc00::/7",  # unique local
    )
)


def is_public(address: IPAddress) -> bool:
    """A global unicast address that is not a gateway into another address family."""
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _NOT_PUBLIC_V6):
        return False
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally; `UnsafeUrl` for an IPv4 address not written as
    canonical dotted decimal (2130706433, 0x7f.1, 127.1, 0127.0.0.1): resolvers and HTTP
    clients disagree on what those mean (0127.0.0.1 is 87.0.0.1 to one and an error or
    127.0.0.1 to others), so none of them is a name we can judge."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host.lower().strip("0123456789abcdefx.") == "":
        try:  # inet_aton takes decimal, octal and hex spellings of IPv4
            socket.inet_aton(host)
        except OSError:
            return None
        raise UnsafeUrl(f"{host} is not an IPv4 address in canonical dotted decimal")
    return None


def check_base_url(url: str, *, allowed_hosts: list[str], resolver: Resolver | None = None) -> str:
    """The URL without a trailing slash, if the service may call it; else `UnsafeUrl`."""
    parts = urlsplit(url.strip())
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeUrl("base_url must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("base_url may not carry credentials")
    if parts.query or parts.fragment:
        raise UnsafeUrl("base_url may not carry a query or fragment")
    normalised = url.strip().rstrip("/")
    if host.lower() in allowed_hosts:
        return normalised
    if parts.scheme != "https":
        raise UnsafeUrl("base_url must use https (or its host be in BB_TRACKER_ALLOWED_HOSTS)")
    literal = _literal(host)
    lookup = resolver or resolve  # looked up per call, so tests can stand in for DNS
    addresses = [literal] if literal else [ipaddress.ip_address(a) for a in lookup(host)]
    if not addresses or not all(is_public(address) for address in addresses):
        raise UnsafeUrl(f"{host} is not a public address; allow it in BB_TRACKER_ALLOWED_HOSTS")
    return normalised


def peer_check(allowed_hosts: list[str]) -> Callable[[str, str], None]:
    """For the HTTP client: every connection's resolved address is judged again."""

    def check(host: str, address: str) -> None:
        if host.lower() in allowed_hosts:
            return
        _literal(host.strip("[]"))  # a host spelled as no address may be is never connected to
        if not is_public(ipaddress.ip_address(address)):
            raise UnsafeUrl(f"{host} now resolves to {address}, which is not public")

    return check
