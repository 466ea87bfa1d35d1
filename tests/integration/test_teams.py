"""Teams (contract: "Teams"): with TENANT_CLAIM naming a team claim, an on-call colleague and the
service that reports health see and change the same proxies, without an admin token; another team
sees none of them; the actor of each change is still its caller."""

from __future__ import annotations

import pytest
from proxy_failover.settings import reset_settings

from tests.helpers import http_event, invoke, token
from tests.integration.test_operations import call

ALICE = token("alice", team="payments")  # a person (hosted UI)
REPORTER = token("svc-health-reporter", team="payments")  # a service (client credentials)
BOB = token("bob", team="search")
NO_TEAM = token("carol")


@pytest.fixture
def teams(db, monkeypatch):
    monkeypatch.setenv("TENANT_CLAIM", "team")
    reset_settings()
    yield
    monkeypatch.delenv("TENANT_CLAIM")
    reset_settings()


def register(proxy_id: str, name: str, tok: str, priority: int = 0) -> dict:
    body = {"proxyId": proxy_id, "instanceData": {"instanceName": name, "priority": priority}}
    code, data, _ = invoke(
        "register_instance", http_event("POST", "/proxy/instances", token_value=tok, body=body)
    )
    assert code == 201, data
    return data["data"]


def test_a_team_shares_its_proxies_between_people_and_services(teams):
    code, _, _ = call(
        "create_config", "POST", "/proxy/failover/config", ALICE, body={"proxyId": "pay-edge", "config": {}}
    )
    assert code == 201
    a = register("pay-edge", "a", ALICE)
    register("pay-edge", "b", REPORTER, priority=1)  # the service adds to the same proxy
    # the service reports health of the instance alice registered
    code, data, _ = call(
        "report_health",
        "PUT",
        f"/proxy/instances/{a['id']}/health",
        REPORTER,
        body={"healthStatus": "healthy"},
    )
    assert code == 200, data
    # both see the proxy, owned by the team
    for tok in (ALICE, REPORTER):
        code, body, _ = call("list_proxies", "GET", "/proxies", tok)
        assert [(p["proxyId"], p["userId"]) for p in body["data"]] == [("pay-edge", "payments")]
    # another team sees nothing, and cannot reach it
    assert call("list_proxies", "GET", "/proxies", BOB)[1]["data"] == []
    assert call("list_instances", "GET", "/proxy/pay-edge/instances", BOB)[0] == 404
    assert (
        call(
            "report_health",
            "PUT",
            f"/proxy/instances/{a['id']}/health",
            BOB,
            body={"healthStatus": "healthy"},
        )[0]
        == 404
    )
    # the actor of a change is its caller, not the team
    code, data, _ = call(
        "start_maintenance",
        "PUT",
        f"/proxy/instances/{a['id']}/maintenance",
        REPORTER,
        body={"durationSeconds": 600, "reason": "patch", "force": True},
    )
    assert code == 200, data
    assert data["data"]["maintenance"]["startedBy"] == "svc-health-reporter"
    history = call("get_config_history", "GET", "/proxy/failover/config/pay-edge/history", REPORTER)[1][
        "data"
    ]
    assert history[0]["changedBy"] == "alice"


def test_a_token_without_the_team_claim_is_refused(teams):
    code, body, _ = call("list_proxies", "GET", "/proxies", NO_TEAM)
    assert code == 401 and body["error"]["code"] == "PROXY_FAILOVER_020"
    assert "team" in body["error"]["message"]
    for bad in (token("dave", team=""), token("dave", team=["payments"]), token("dave", team=7)):
        assert call("list_proxies", "GET", "/proxies", bad)[0] == 401


def test_with_the_default_each_subject_owns_its_own(db):
    code, _, _ = call(
        "create_config", "POST", "/proxy/failover/config", ALICE, body={"proxyId": "mine", "config": {}}
    )
    assert code == 201
    assert call("list_proxies", "GET", "/proxies", REPORTER)[1]["data"] == []
    assert call("list_proxies", "GET", "/proxies", ALICE)[1]["data"][0]["userId"] == "alice"
