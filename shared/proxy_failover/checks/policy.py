"""Which addresses the service may probe (SSRF protection).

Never: link-local (the instance metadata service lives at 169.254.169.254 and fd00:ec2::254),
unspecified, multicast, broadcast, reserved, and the IPv6 forms that carry an IPv4 address inside them
(IPv4-compatible, IPv4-mapped, NAT64, 6to4, Teredo) or are deprecated (site-local): each can reach an
IPv4 address the policy would refuse. Loopback only with PROBE_ALLOW_LOOPBACK; private and shared
ranges only inside PROBE_ALLOWED_CIDRS. The probe checks the *resolved* address it connects to, so a
hostname that resolves to a forbidden address is refused too (no DNS-rebinding bypass), and a host
written as a legacy IPv4 number (`2852039166`, `0xA9FEA9FE`, `0251.0376.0251.0376`, `127.1`, `0`) is
read as the address every resolver reads it as.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

from ..errors import ForbiddenProbeTarget, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ALWAYS_FORBIDDEN: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "fe80::/10",
        "ff00::/8",
        "fd00:ec2::/32",
        "100.100.100.200/32",
        # IPv6 with an IPv4 address inside: IPv4-compatible (::1 is loopback, checked first),
        # IPv4-mapped, NAT64 (well-known and local-use), 6to4, Teredo; and deprecated site-local.
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "fec0::/10",
    )
)
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
# What inet_aton (and so every resolver) takes as an IPv4 address: 1-4 parts, each decimal, octal
# (leading 0) or hex (0x).
_LEGACY_IPV4 = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}")
_LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_PRIVATE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "198.18.0.0/15")
)
SCHEMES = ("http", "https", "tcp")


class ProbeTarget(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str


class TargetPolicy(NamedTuple):
    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_loopback: bool, cidrs: Sequence[str]) -> TargetPolicy:
        return cls(allow_loopback, tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be probed, or None when it may."""
        if address != _IPV6_LOOPBACK and any(address in n for n in _ALWAYS_FORBIDDEN):
            return (
                "link-local, metadata, multicast, reserved and IPv4-embedding IPv6 addresses are never probed"
            )
        if any(address in n for n in self.allowed_networks):
            return None
        if any(address in n for n in _LOOPBACK):
            return (
                None if self.allow_loopback else "loopback addresses are not allowed (PROBE_ALLOW_LOOPBACK)"
            )
        if any(address in n for n in _PRIVATE):
            return "private addresses are probed only inside PROBE_ALLOWED_CIDRS"
        return None


def host_address(host: str) -> IPAddress | None:
    """The address a host names literally (any spelling a resolver accepts, a trailing dot too:
    "169.254.169.254." is that address to a resolver), or None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    if bare.endswith(".") and not bare.endswith(".."):
        bare = bare[:-1]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None  # e.g. a part out of range: no address, and no resolver takes it either
    return None


def parse_target(url: str) -> ProbeTarget:
    """Validate a health-check URL's shape: http(s)://host[:port]/path or tcp://host:port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"healthCheckUrl is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInput("healthCheckUrl must use http://, https:// or tcp://")
    host = parts.hostname
    if not host:
        raise InvalidInput("healthCheckUrl has no host")
    if parts.username or parts.password:
        raise InvalidInput("healthCheckUrl must not carry credentials")
    if scheme == "tcp" and port is None:
        raise InvalidInput("a tcp:// healthCheckUrl needs a port")
    default_port = 443 if scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return ProbeTarget(scheme, host, port if port is not None else default_port, path)


def check_registration(url: str, policy: TargetPolicy) -> ProbeTarget:
    """At registration: refuse bad schemes and literal addresses that may not be probed."""
    target = parse_target(url)
    host = target.host.lower()
    if host in {"metadata", "metadata.google.internal", "instance-data"}:
        raise ForbiddenProbeTarget("healthCheckUrl names a metadata service")
    literal = host_address("127.0.0.1" if host == "localhost" else host)
    if literal is None:
        return target  # a name: checked again on every probe, against what it resolves to
    reason = policy.refusal(literal)
    if reason:
        raise ForbiddenProbeTarget(f"healthCheckUrl host {target.host} is refused: {reason}")
    return target
