"""Probes against real local servers, and the target policy (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest
from proxy_failover.checks.policy import TargetPolicy, check_registration
from proxy_failover.checks.probes import Prober, ProbeRequest
from proxy_failover.errors import ForbiddenProbeTarget, InvalidInput

from tests.servers import FleetServer, TcpServer, closed_port

LOOPBACK_OK = TargetPolicy(allow_loopback=True)


@pytest.fixture
def fleet():
    server = FleetServer()
    yield server
    server.close()


def test_http_probe_outcomes(fleet):
    fleet.modes.update({"ok": "ok", "redirect": "redirect", "fail": "fail", "hang": "hang"})
    tcp = TcpServer()
    requests = [
        ProbeRequest("ok", fleet.url("ok"), 1),
        ProbeRequest("redirect", fleet.url("redirect"), 1),
        ProbeRequest("fail", fleet.url("fail"), 1),
        ProbeRequest("hang", fleet.url("hang"), 0.5),
        ProbeRequest("refused", f"http://127.0.0.1:{closed_port()}/", 1),
        ProbeRequest("tcp", f"tcp://127.0.0.1:{tcp.port}", 1),
    ]
    results = {r.instance_id: r for r in Prober(LOOPBACK_OK).run(requests)}
    tcp.close()
    assert {k: v.healthy for k, v in results.items()} == {
        "ok": True,
        "redirect": True,
        "fail": False,
        "hang": False,
        "refused": False,
        "tcp": True,
    }
    assert "timeout after 0.5s" in (results["hang"].error or "")  # cut at its own timeout
    assert fleet.hits["redirect"] == 1  # the redirect (to the metadata service) was not followed


def test_loopback_is_not_contacted_unless_allowed(fleet):
    (result,) = Prober(TargetPolicy()).run([ProbeRequest("a", fleet.url("ok"), 1)])
    assert not result.healthy and not result.contacted and result.error.startswith("refused")
    assert fleet.hits["ok"] == 0


def test_names_resolving_to_forbidden_addresses_are_not_contacted(fleet):
    """DNS answers are checked, not the name: a name rebound to the metadata service (or to a loopback
    server the policy forbids) is refused before any connection."""
    asked = []

    async def rebinding(host, port):
        asked.append(host)
        return ["169.254.169.254"] if host == "innocent.example" else ["127.0.0.1"]

    prober = Prober(TargetPolicy(), resolver=rebinding)
    metadata, loopback = prober.run(
        [
            ProbeRequest("a", "http://innocent.example/health", 1),
            ProbeRequest("b", f"http://also-innocent.example:{fleet.port}/ok", 1),
        ]
    )
    assert asked == ["innocent.example", "also-innocent.example"]
    assert not metadata.contacted and "169.254.169.254" in (metadata.error or "")
    assert not loopback.contacted and fleet.hits["ok"] == 0


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


def test_encoded_hosts_are_read_as_resolvers_read_them_and_checked_before_any_connection(fleet):
    asked = []

    async def resolver(host, port):
        asked.append(host)
        return ["93.184.216.34"]

    forbidden = [
        ProbeRequest(str(k), f"http://{h}:{fleet.port}/ok", 1) for k, h in enumerate(ENCODED_FORBIDDEN)
    ]
    results = Prober(TargetPolicy(), resolver=resolver).run(forbidden)
    assert all(not r.contacted and not r.healthy for r in results), results
    assert asked == [] and fleet.hits["ok"] == 0  # literals: never resolved, never contacted
    # 127.1 is 127.0.0.1: with loopback allowed it is probed there
    (short,) = Prober(LOOPBACK_OK).run([ProbeRequest("s", f"http://127.1:{fleet.port}/ok", 1)])
    assert short.healthy and fleet.hits["ok"] == 1
