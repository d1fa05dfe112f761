"""The socket `warden serve` listens on, when uvicorn's own would not do.

Given `::`, asyncio (which uvicorn uses) binds an IPv6-only socket, so an IPv4 reverse proxy
could not reach a server told to listen on every address. :func:`dual_stack` binds `::` with
`IPV6_V6ONLY` off instead, as most servers do: IPv6 and IPv4 peers, the latter seen as
`::ffff:a.b.c.d` (which a trusted IPv4 proxy entry matches: :mod:`warden.server.proxies`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

__all__ = ["display_url", "dual_stack", "is_every_ipv6_address"]


def is_every_ipv6_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.IPv6Address("::")
    except ValueError:
        return False


def dual_stack(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `::` (every IPv6 address, and every IPv4 one where the system
    allows it) at `port`; raises OSError (no IPv6, the port taken) like any bind."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):  # no dual-stack sockets: IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def display_url(host: str, port: int) -> str:
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{bracketed}:{port}"
