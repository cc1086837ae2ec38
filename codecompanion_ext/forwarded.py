"""Where a request really came from, behind a reverse proxy: the scheme and host room links
start with, and the client address rate limits count.

A proxy says so in `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For`, but so
could anyone: they are believed only from a trusted proxy (by default one on this
machine; `*` trusts every peer, as `ServerApp.trust_xheaders` does). Proxies in a chain
append to these lists: JupyterHub's proxy behind a TLS terminator sends
`X-Forwarded-Proto: https,http`, so the scheme and host are the first entries (what the
browser used); the client is the last address in `X-Forwarded-For` that is not itself a
trusted proxy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from tornado.httputil import HTTPServerRequest
from tornado.iostream import SSLIOStream

LOOPBACK = ("127.0.0.0/8", "::1")
SCHEMES = ("http", "https")
# A host name, IPv4 or bracketed IPv6 address, and an optional port: nothing a link could
# be bent with (no user info, path, quotes or spaces).
HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Peers whose forwarding headers are believed: addresses and networks, or `*`."""

    def __init__(self, entries: Iterable[str]) -> None:
        entries = [entry.strip() for entry in entries]
        self.everyone = "*" in entries
        self.networks: list[Network] = [
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        ]

    def __contains__(self, address: str) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


def check_entries(entries: Iterable[str]) -> list[str]:
    """`entries` if each is `*`, an IP address or a network; else ValueError saying which."""
    entries = list(entries)
    for entry in entries:
        if entry.strip() != "*":
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a network or '*'") from None
    return entries


def peer_address(request: HTTPServerRequest) -> str:
    """The address of whoever opened the connection (Tornado's `remote_ip` may already be
    a forwarded one). A Unix socket peer is on this machine: it counts as loopback."""
    address: Any = getattr(getattr(request.connection, "context", None), "address", None)
    if isinstance(address, tuple) and address:
        return str(address[0])
    if address is not None:  # a Unix socket
        return "127.0.0.1"
    return request.remote_ip or ""


def _first(request: HTTPServerRequest, header: str) -> str:
    return request.headers.get(header, "").split(",", 1)[0].strip()


def link_origin(request: HTTPServerRequest, trusted: TrustedProxies) -> str:
    """`scheme://host` as the browser reached this server, for links."""
    tls = isinstance(getattr(request.connection, "stream", None), SSLIOStream)
    scheme = "https" if tls else "http"
    host = request.host
    if peer_address(request) in trusted:
        forwarded_scheme = _first(request, "X-Forwarded-Proto").lower()
        if forwarded_scheme in SCHEMES:
            scheme = forwarded_scheme
        forwarded_host = _first(request, "X-Forwarded-Host")
        if HOST.fullmatch(forwarded_host):
            host = forwarded_host
    return f"{scheme}://{host}"


def client_address(request: HTTPServerRequest, trusted: TrustedProxies) -> str:
    """The client's address: the peer's, or behind trusted proxies the last forwarded one
    that is not itself a trusted proxy (what a proxy saw cannot be forged by the client)."""
    address = peer_address(request)
    if address not in trusted:
        return address
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        hop = hop.strip()
        if not _is_ip(hop):
            break
        address = hop
        if trusted.everyone or hop not in trusted:  # trusting everyone: the last hop
            break
    return address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True
