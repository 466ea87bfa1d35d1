"""The client package without a network: the routing answer as the data plane reads it (slow start's
share of the moment), the watcher's rule for what is newer, the file it writes, and errors as
exceptions carrying the envelope's code."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_failover_client import Client, Conflict, NotFound, Route, RouteWatcher, Unavailable
from proxy_failover_client.api import _error
from proxy_failover_client.watcher import write_routes

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def answer(version: int, active: str = "i-1", *, ramp: dict | None = None) -> dict:
    return {
        "proxyId": "edge-1",
        "activeInstanceId": active,
        "endpoint": "10.0.0.1:8443",
        "algorithm": "weighted",
        "degraded": False,
        "version": version,
        "targets": [
            {"instanceId": "i-1", "endpoint": "10.0.0.1:8443", "share": 0.5, "ramp": None},
            {"instanceId": "i-2", "endpoint": "10.0.0.2:8443", "share": 0.5, "ramp": ramp},
        ],
    }


RAMP = {"from": 0.1, "startsAt": T0.isoformat(), "endsAt": (T0 + timedelta(seconds=100)).isoformat()}


def test_a_ramping_target_gets_a_tenth_of_its_share_at_the_start_and_all_of_it_at_the_end():
    route = Route.from_json(answer(3, ramp=RAMP))
    start = route.shares_at(T0)
    assert start["i-2"] == pytest.approx(0.05 / 0.55)
    middle = route.shares_at(T0 + timedelta(seconds=50))
    assert middle["i-2"] == pytest.approx(0.275 / 0.775)
    assert route.shares_at(T0 + timedelta(seconds=100)) == {"i-1": 0.5, "i-2": 0.5}
    assert route.shares_at(T0 + timedelta(days=1)) == {"i-1": 0.5, "i-2": 0.5}


@given(st.floats(min_value=-50, max_value=200))
def test_the_shares_of_any_moment_sum_to_one_and_the_ramp_only_grows(seconds):
    route = Route.from_json(answer(3, ramp=RAMP))
    now = T0 + timedelta(seconds=seconds)
    shares = route.shares_at(now)
    assert sum(shares.values()) == pytest.approx(1.0)
    later = route.shares_at(now + timedelta(seconds=1))
    assert later["i-2"] >= shares["i-2"] - 1e-12


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Route | None]] = []

    def __call__(self, proxy_id: str, route: Route | None) -> None:
        self.calls.append((proxy_id, route))


def watcher(tmp_path: Path | None = None) -> tuple[RouteWatcher, Recorder]:
    recorder = Recorder()
    found = RouteWatcher(
        Client("http://127.0.0.1:9", "t"),
        ["edge-1"],
        queue_url="http://sqs.invalid/q",
        on_change=recorder,
        file=None if tmp_path is None else tmp_path / "routes.json",
    )
    return found, recorder


def pushed(version: int, active: str = "i-1") -> dict:
    return {
        "type": "route_changed",
        "proxyId": "edge-1",
        "version": version,
        "etag": f'"v{version}"',
        "route": answer(version, active),
    }


def test_only_a_newer_version_changes_the_answer_held():
    w, recorder = watcher()
    assert w.apply(pushed(5, "i-2"))
    assert not w.apply(pushed(5, "i-2"))  # delivered twice
    assert not w.apply(pushed(4, "i-1"))  # late
    assert w.route("edge-1").active_instance_id == "i-2"
    assert w.apply(pushed(6, "i-1"))
    assert [r.version for _, r in recorder.calls] == [5, 6]
    assert (w.applied, w.dropped) == (2, 2)


@given(st.permutations(list(range(1, 9))), st.integers(min_value=1, max_value=3))
def test_any_order_and_any_repetition_leaves_the_newest(order, times):
    w, _ = watcher()
    for version in list(order) * times:
        w.apply(pushed(version, f"i-{version}"))
    assert w.route("edge-1").version == 8


def test_messages_of_other_proxies_and_other_types_change_nothing():
    w, recorder = watcher()
    assert not w.apply({**pushed(5), "proxyId": "edge-9"})
    assert not w.apply({**pushed(5), "type": "failover"})
    assert recorder.calls == []


def test_a_decommissioned_proxy_is_none_and_one_created_anew_starts_its_versions_again():
    w, recorder = watcher()
    w.apply(pushed(9))
    assert w.apply({"type": "proxy_removed", "proxyId": "edge-1"})
    assert w.route("edge-1") is None
    assert w.apply(pushed(1))  # the new proxy's first answer
    assert [None if r is None else r.version for _, r in recorder.calls] == [9, None, 1]


def test_the_api_saying_an_older_version_twice_is_a_proxy_created_anew():
    w, _ = watcher()
    w.apply(pushed(9))
    older = Route.from_json(answer(2, "i-2"), etag='"v2"')
    assert not w._offer("edge-1", older, asked=True)  # once: maybe a stale replica
    assert w._offer("edge-1", older, asked=True)  # twice in a row: the answer now
    assert w.route("edge-1").version == 2


def test_the_file_is_replaced_whole_in_its_documented_shape(tmp_path):
    w, _ = watcher(tmp_path)
    w.apply(pushed(5, "i-2"))
    document = json.loads((tmp_path / "routes.json").read_text())
    assert document["format"] == 1 and datetime.fromisoformat(document["updatedAt"])
    held = document["routes"]["edge-1"]
    assert held["activeInstanceId"] == "i-2" and held["version"] == 5 and held["etag"] == '"v5"'
    assert [p.name for p in tmp_path.iterdir()] == ["routes.json"]  # no temporary left behind


def test_readers_never_see_a_half_written_file(tmp_path):
    path = tmp_path / "routes.json"
    routes = {f"edge-{k}": Route.from_json({**answer(k), "proxyId": f"edge-{k}"}) for k in range(200)}
    write_routes(path, routes)
    stop = threading.Event()
    torn = []

    def read() -> None:
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except ValueError as exc:
                torn.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(30):
        write_routes(path, routes)
    stop.set()
    reader.join()
    assert torn == []


def test_errors_are_exceptions_carrying_the_envelopes_code():
    body = json.dumps(
        {"error": {"code": "PROXY_FAILOVER_010", "message": "target not healthy", "statusCode": 409}}
    )
    found = _error(409, body.encode(), {})
    assert isinstance(found, Conflict) and found.code == "PROXY_FAILOVER_010" and found.status == 409
    assert isinstance(
        _error(404, b'{"error": {"code": "PROXY_FAILOVER_004", "message": "no"}}', {}), NotFound
    )
    busy = _error(503, b'{"error": {"code": "PROXY_FAILOVER_099", "message": "busy"}}', {"retry-after": "2"})
    assert isinstance(busy, Unavailable) and busy.retry_after == 2.0
    # API Gateway's own refusal is no envelope: still an error with the status
    gateway = _error(401, b'{"message":"Unauthorized"}', {})
    assert gateway.status == 401 and gateway.code == "HTTP_401"


def test_the_client_package_stands_alone_without_the_layer():
    """The client is installed on data-plane nodes that have no copy of the control plane: none of
    its modules may import the layer (or the build-time contract), and the HTTP client needs no
    dependency at all (boto3 only for the watcher)."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "for name in ('proxy_failover', 'contract', 'local', 'pydantic', 'boto3', 'botocore'):\n"
        "    sys.modules[name] = None\n"
        "import proxy_failover_client, proxy_failover_client.api, proxy_failover_client.models\n"
        "import proxy_failover_client.routes, proxy_failover_client.watcher, proxy_failover_client.__main__\n"
        "print('alone')\n"
    )
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert ran.returncode == 0 and "alone" in ran.stdout, ran.stderr
