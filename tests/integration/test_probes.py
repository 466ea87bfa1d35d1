"""HTTP/HTTPS and TCP probes against real local servers, and the policy applied before any
connection: forbidden targets are never contacted."""

from __future__ import annotations

import pytest
from proxy_failover.checks.policy import TargetPolicy
from proxy_failover.checks.probes import Prober, ProbeRequest

from tests.servers import FleetServer, TcpServer, closed_port
from tests.unit.test_policy import ENCODED_FORBIDDEN

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
