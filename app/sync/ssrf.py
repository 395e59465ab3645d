"""Which tracker URLs the service may call: public https hosts, or hosts an operator allowed.

A `base_url` is refused when its host is an IP literal (in any spelling), or resolves, to an
address that is not globally routable: loopback, private, link-local, shared, reserved,
multicast. Hosts in `BB_TRACKER_ALLOWED_HOSTS` (matched as written, case-insensitively) are
exempt and may use http: that is how a self-hosted tracker on the LAN is configured.
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


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, including legacy forms like 2130706433 or 0x7f.1."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host.lower().strip("0123456789abcdefx.") == "":
        try:  # inet_aton accepts decimal, octal and hex spellings of IPv4
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
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
        if not is_public(ipaddress.ip_address(address)):
            raise UnsafeUrl(f"{host} now resolves to {address}, which is not public")

    return check
