"""The probe target policy (SSRF): which addresses may be probed, and what registration refuses.
Pure: no sockets (the probes themselves are tested against live local servers in integration)."""

from __future__ import annotations

import ipaddress

import pytest
from proxy_failover.checks.policy import TargetPolicy, check_registration
from proxy_failover.errors import ForbiddenProbeTarget, InvalidInput


@pytest.mark.parametrize(
    ("address", "policy", "allowed"),
    [
        ("169.254.169.254", TargetPolicy(allow_loopback=True), False),
        ("fd00:ec2::254", TargetPolicy(), False),
        ("::ffff:169.254.169.254", TargetPolicy(), False),
        ("127.0.0.1", TargetPolicy(), False),
        ("127.0.0.1", TargetPolicy(allow_loopback=True), True),
        ("10.1.2.3", TargetPolicy(), False),
        ("10.1.2.3", TargetPolicy.from_settings(False, ["10.0.0.0/8"]), True),
        ("169.254.1.1", TargetPolicy.from_settings(False, ["169.254.0.0/16"]), False),
        ("192.168.1.1", TargetPolicy(), False),
        ("93.184.216.34", TargetPolicy(), True),
    ],
)
def test_policy(address, policy, allowed):
    assert (policy.refusal(ipaddress.ip_address(address)) is None) is allowed


def test_registration_checks():
    assert check_registration("https://edge.example.com/healthz", TargetPolicy()).port == 443
    assert check_registration("tcp://edge.example.com:7000", TargetPolicy()).scheme == "tcp"
    for bad in ["gopher://x/", "http:///nohost", "tcp://host-without-port"]:
        with pytest.raises(InvalidInput):
            check_registration(bad, TargetPolicy())
    with pytest.raises(ForbiddenProbeTarget):
        check_registration("http://169.254.169.254/", TargetPolicy(allow_loopback=True))
    with pytest.raises(ForbiddenProbeTarget):
        check_registration("http://localhost:8080/", TargetPolicy())


# Spellings of forbidden addresses that a resolver reads as IPv4, and IPv6 forms that carry IPv4.
ENCODED_FORBIDDEN = [
    "2852039166",  # 169.254.169.254 as one number
    "0xA9FEA9FE",  # ... in hex
    "0251.0376.0251.0376",  # ... in octal
    "169.16689662",  # ... as two parts
    "127.1",  # 127.0.0.1, short (loopback not allowed by default)
    "0",  # 0.0.0.0
    "[::a9fe:a9fe]",  # IPv4-compatible ::169.254.169.254
    "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[::ffff:8.8.8.8]",  # IPv4-mapped, even of a public address
    "[64:ff9b::a9fe:a9fe]",  # NAT64 well-known prefix
    "[64:ff9b:1::a9fe:a9fe]",  # NAT64 local-use prefix
    "[2002:a9fe:a9fe::1]",  # 6to4
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[fec0::1]",  # site-local
]


@pytest.mark.parametrize("host", ENCODED_FORBIDDEN)
def test_encoded_and_embedded_forbidden_addresses_are_refused_at_registration(host):
    with pytest.raises(ForbiddenProbeTarget):
        check_registration(f"http://{host}/healthz", TargetPolicy())


@pytest.mark.parametrize(
    ("address", "policy", "allowed"),
    [
        ("::1", TargetPolicy(allow_loopback=True), True),
        ("::1", TargetPolicy(), False),
        ("2606:4700:4700::1111", TargetPolicy(), True),
        ("64:ff9b::808:808", TargetPolicy.from_settings(False, ["64:ff9b::/96"]), False),
    ],
)
def test_ipv6_policy(address, policy, allowed):
    assert (policy.refusal(ipaddress.ip_address(address)) is None) is allowed
