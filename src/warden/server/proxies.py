"""Who a request comes from behind reverse proxies: the peer, or the client a trusted proxy says
it forwards for, in the one header the proxy is said to set (`X-Forwarded-For` or RFC 7239's
`Forwarded`).

The sign-in limit counts failures by this address, so it must never be one a client chose: the
headers are read from trusted peers only, and only the part a trusted proxy wrote counts (the
right-most entry that is not itself a trusted proxy). Only one header is read: a proxy that sets
one passes the other through as the client wrote it, so reading both (or whichever is present)
would let a client name its own address through the header the proxy does not set.

An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`, how a server listening on `::`
sees an IPv4 peer) are one address here: trusting either trusts both.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from warden.errors import UsageError

__all__ = [
    "PROXY_HEADERS",
    "PROXY_HEADER_ENV",
    "BadForwarded",
    "ForwardedClients",
    "TrustedProxies",
    "forwarded_client",
    "parse_forwarded",
    "proxy_header",
]

PROXY_HEADERS = ("x-forwarded-for", "forwarded")
"""The headers a trusted proxy may be said to set (`warden serve --proxy-header`)."""
PROXY_HEADER_ENV = "WARDEN_PROXY_HEADER"
"""`warden serve --proxy-header`'s default."""
UNKNOWN = "unknown"
MAX_OBFUSCATED = 64
"""The longest obfuscated identifier (`_...`) counted as a client."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _forms(ip: Address) -> tuple[Address, ...]:
    """An address and its other form: IPv4 and IPv4-mapped IPv6 name the same peer."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip, ipaddress.IPv6Address(int(_MAPPED.network_address) | int(ip))
    if ip.ipv4_mapped is not None:
        return ip, ip.ipv4_mapped
    return (ip,)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _named(client: Address | str | None) -> str | None:
    """How a chosen client is named: an IPv4-mapped address as the IPv4 address it is."""
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        return str(client.ipv4_mapped)
    return None if client is None else str(client)


class TrustedProxies:
    """The reverse proxies whose forwarding headers are honoured: addresses or networks."""

    def __init__(self, values: Iterable[str]) -> None:
        networks: list[Network] = []
        for value in values:
            for item in value.replace(",", " ").split():
                try:
                    network = ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise UsageError(
                        f"trusted proxy {item!r} is not an IP address or network",
                        fix="name the reverse proxy's address as Warden sees it, e.g. 10.0.0.5",
                    ) from None
                every_ipv4 = isinstance(network, ipaddress.IPv6Network) and network.supernet_of(_MAPPED)
                if network.prefixlen == 0 or every_ipv4:  # every client a proxy: each picks its own address
                    raise UsageError(
                        f"trusted proxy {item!r} trusts every address: any client could then name the "
                        "address its failed sign-ins count against",
                        fix="name only the reverse proxy's own address (or its proxies' network)",
                    )
                networks.append(network)
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __str__(self) -> str:
        return ", ".join(str(n) for n in self.networks)

    def __contains__(self, host: object) -> bool:
        ip = _address(host) if isinstance(host, str) else None
        if ip is None:
            return False
        return any(form in network for form in _forms(ip) for network in self.networks)


def proxy_header(value: str | None) -> str:
    """`--proxy-header`'s value checked: which header the trusted proxies set."""
    name = (value or PROXY_HEADERS[0]).strip().lower()
    if name not in PROXY_HEADERS:
        raise UsageError(
            f"proxy header {value!r} is not one Warden reads",
            fix="name the header the reverse proxy sets: x-forwarded-for or forwarded",
            code="bad_proxy_header",
        )
    return name


class BadForwarded(HTTPException):
    """A trusted proxy's forwarding header that names no client Warden can count: 400."""

    code = "bad_forwarded"
    fix = "the reverse proxy must append the client's address to the header Warden reads (docs/SERVER.md)"

    def __init__(self, header: str, why: str) -> None:
        super().__init__(400, f"the {header} header from the trusted proxy cannot be read: {why}")


# --- RFC 7239 ----------------------------------------------------------------------------------

_OWS = " \t\r\n"  # what a folded header (obs-fold) leaves between its lines counts as whitespace
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")
_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 `Forwarded` as its elements, in order, each a dict of its parameters (names
    lower-cased, quoted values unquoted). Strict: anything the grammar does not allow raises
    :class:`ValueError` (an unbalanced quote must not swallow the element a proxy appended)."""
    elements: list[dict[str, str]] = [{}]
    at, end = 0, len(value)

    def skip(i: int) -> int:
        while i < end and value[i] in _OWS:
            i += 1
        return i

    at = skip(at)
    while at < end:
        if value[at] in ",;":  # an empty element or pair: the list syntax allows them
            if value[at] == ",":
                elements.append({})
            at = skip(at + 1)
            continue
        name = _TOKEN.match(value, at)
        if name is None or name.end() >= end or value[name.end()] != "=":
            raise ValueError(f"a parameter without '=' at character {at}")
        at = name.end() + 1
        if at < end and value[at] == '"':
            chars: list[str] = []
            at += 1
            while True:
                if at >= end:
                    raise ValueError("an unterminated quoted string")
                char = value[at]
                if char == "\\":
                    if at + 1 >= end:
                        raise ValueError("an unterminated quoted string")
                    chars.append(value[at + 1])
                    at += 2
                elif char == '"':
                    at += 1
                    break
                else:
                    chars.append(char)
                    at += 1
            found = "".join(chars)
        else:
            token = _TOKEN.match(value, at)
            if token is None:
                raise ValueError(f"a value that is neither a token nor quoted at character {at}")
            found, at = token.group(), token.end()
        key = name.group().lower()
        if key in elements[-1]:
            raise ValueError(f"'{key}' twice in one element")
        elements[-1][key] = found
        at = skip(at)
        if at < end and value[at] not in ",;":
            raise ValueError(f"unexpected text at character {at}")
    return [element for element in elements if element]


def _node(node: str) -> tuple[Address | str | None, int]:
    """A `for=` node as an address (or an obfuscated identifier) and port; None for `unknown`.
    Raises ValueError for anything else."""
    host, port = node, ""
    ip: Address | None
    if node.startswith("["):
        close = node.find("]")
        if close < 0:
            raise ValueError("an IPv6 node without its ']'")
        host, rest = node[1:close], node[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("text after an IPv6 node")
        port = rest[1:]
        ip = _address(host)
        if not isinstance(ip, ipaddress.IPv6Address):
            raise ValueError("a bracketed node that is not an IPv6 address")
    else:
        if ":" in node:
            host, _, port = node.partition(":")
        if host.lower() == UNKNOWN:
            ip = None
        elif _OBFUSCATED.fullmatch(host) and len(host) <= MAX_OBFUSCATED:
            return host, 0
        else:
            ip = _address(host)
            if not isinstance(ip, ipaddress.IPv4Address):
                raise ValueError("a node that is not an IPv4 address, [IPv6], unknown or _obfuscated")
    if port and not _PORT.fullmatch(port):
        raise ValueError("a node's port that is not a number")
    number = int(port) if port.isdigit() and int(port) <= 65535 else 0
    return ip, number


def _x_forwarded_node(entry: str) -> tuple[Address | None, int]:
    """An X-Forwarded-For entry: an address, `[IPv6]:port` or `IPv4:port` (None for `unknown`)."""
    if entry.lower() == UNKNOWN:
        return None, 0
    bare = _address(entry)
    if bare is not None:
        return bare, 0
    node, port = _node(entry)
    if isinstance(node, str):
        raise ValueError("not an address")
    return node, port


@dataclass(frozen=True)
class Forwarded:
    client: str | None
    """The client's address (or a proxy's obfuscated identifier for it); None: the peer stays."""
    port: int = 0
    scheme: str | None = None


def forwarded_client(headers: list[tuple[bytes, bytes]], trusted: TrustedProxies, header: str) -> Forwarded:
    """Who a trusted peer's request comes from, by `header` (raises :class:`BadForwarded`).

    Each proxy appends its peer, so from the right: the first entry that is not a trusted proxy
    is the client (what a client wrote itself comes before it and is never looked at); when every
    entry is a trusted proxy the left-most is. `unknown` names no client: the peer stays."""
    values = [v.decode("latin-1") for k, v in headers if k.lower() == header.encode()]
    if header == "forwarded":
        return _by_forwarded(values, trusted)
    scheme = None
    for key, value in headers:
        if key.lower() == b"x-forwarded-proto":
            proto = value.decode("latin-1").strip().lower()
            scheme = proto if proto in ("http", "https") else scheme
    if not values:
        return Forwarded(None, scheme=scheme)
    entries = [e.strip(_OWS) for e in ",".join(values).split(",")]
    entries = [e for e in entries if e]
    nodes: list[tuple[Address | None, int]] = []
    for entry in reversed(entries):
        try:
            node = _x_forwarded_node(entry)
        except ValueError as exc:
            raise BadForwarded("X-Forwarded-For", f"an entry is {exc}") from None
        nodes.append(node)
        if node[0] is None or str(node[0]) not in trusted:
            break
    if not nodes:
        return Forwarded(None, scheme=scheme)
    ip, port = nodes[-1]
    return Forwarded(_named(ip), port, scheme)


def _by_forwarded(values: list[str], trusted: TrustedProxies) -> Forwarded:
    elements: list[dict[str, str]] = []
    for value in values:  # each header field on its own: one field's stray quote stays in it
        try:
            elements.extend(parse_forwarded(value))
        except ValueError as exc:
            raise BadForwarded("Forwarded", str(exc)) from None
    chosen: tuple[Address | str | None, int, dict[str, str]] | None = None
    for element in reversed(elements):
        if "for" not in element:  # a proxy that does not say whom it forwards for: nobody known
            chosen = None, 0, element
            break
        try:
            ip, port = _node(element["for"])
        except ValueError as exc:
            raise BadForwarded("Forwarded", f"a for= {exc}") from None
        chosen = ip, port, element
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) or str(ip) not in trusted:
            break
    if chosen is None:
        return Forwarded(None)
    client, port, element = chosen
    proto = element.get("proto", "").lower()
    return Forwarded(_named(client), port, proto if proto in ("http", "https") else None)


class ForwardedClients:
    """Pure ASGI middleware: a request from a trusted proxy comes from the client the proxy
    names (:func:`forwarded_client`): `scope["client"]`, and its scheme. From anybody else the
    headers are ignored. A trusted proxy's header that cannot be read is refused (400
    `bad_forwarded`) rather than counted as the proxy: a client could otherwise make its
    failures count against everybody behind the proxy."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies, header: str = PROXY_HEADERS[0]) -> None:
        self.app = app
        self.trusted = trusted
        self.header = proxy_header(header)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] != "http" or not peer or peer[0] not in self.trusted:
            await self.app(scope, receive, send)
            return
        try:
            found = forwarded_client(scope.get("headers", []), self.trusted, self.header)
        except BadForwarded as exc:
            from warden.server.errors import refusal

            await refusal(Request(scope), exc)(scope, receive, send)
            return
        scope = dict(scope)
        if found.client is not None:
            scope["client"] = (found.client, found.port)
        if found.scheme is not None:
            scope["scheme"] = found.scheme
        await self.app(scope, receive, send)
