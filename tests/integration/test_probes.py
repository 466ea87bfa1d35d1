"""HTTP/HTTPS and TCP probes against real local servers, and the policy applied before any
connection: forbidden targets are never contacted."""

from __future__ import annotations

import subprocess

import pytest
from proxy_failover.checks.policy import TargetPolicy
from proxy_failover.checks.probes import Prober, ProbeRequest
from proxy_failover.domain.models import ProbeOptions

from tests.servers import FleetServer, KeepAliveServer, RawAnswerServer, TcpServer, closed_port
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


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def _healthy(requests):
    return {r.instance_id: r.healthy for r in Prober(LOOPBACK_OK).run(requests)}


def test_expected_status_ranges_decide_what_is_healthy(fleet):
    fleet.modes.update({"ok": "ok", "redirect": "redirect", "fail": "fail"})
    only_2xx = ProbeOptions(expected_status="200-299")
    with_500 = ProbeOptions(expected_status="200,500-503")
    assert _healthy(
        [
            ProbeRequest("redirect-default", fleet.url("redirect"), 1),
            ProbeRequest("redirect-2xx", fleet.url("redirect"), 1, only_2xx),
            ProbeRequest("fail-default", fleet.url("fail"), 1),
            ProbeRequest("fail-listed", fleet.url("fail"), 1, with_500),
            ProbeRequest("ok-listed", fleet.url("ok"), 1, with_500),
        ]
    ) == {
        "redirect-default": True,
        "redirect-2xx": False,
        "fail-default": False,
        "fail-listed": True,
        "ok-listed": True,
    }


def test_body_contains_reads_the_first_64_kib_of_plain_and_chunked_bodies(fleet):
    ready = ProbeOptions(body_contains='"status": "ready"')
    fleet.answers.update(
        {
            "plain": (200, b'{"status": "ready"}', False),
            "chunked": (200, b'{"queue": 0, "status": "ready"}', True),  # the text spans chunks
            "starting": (200, b'{"status": "starting"}', False),
            "late": (200, b"x" * (64 * 1024) + b'"status": "ready"', False),  # beyond 64 KiB
            "error": (503, b'{"status": "ready"}', False),  # the status is judged first
        }
    )
    results = {
        r.instance_id: r
        for r in Prober(LOOPBACK_OK).run([ProbeRequest(n, fleet.url(n), 2, ready) for n in fleet.answers])
    }
    assert {k: v.healthy for k, v in results.items()} == {
        "plain": True,
        "chunked": True,
        "starting": False,
        "late": False,
        "error": False,
    }
    assert results["starting"].error == "body lacks the expected text"
    assert results["error"].error == "HTTP 503"


def test_a_server_that_keeps_the_connection_open_is_read_to_its_content_length():
    server = KeepAliveServer(b"all good")
    try:
        (result,) = Prober(LOOPBACK_OK).run(
            [ProbeRequest("a", server.url, 2, ProbeOptions(body_contains="good"))]
        )
    finally:
        server.close()
    assert result.healthy, result.error  # not a timeout: the announced body had come


def test_tls_verify_false_accepts_a_self_signed_certificate_and_true_refuses_it(self_signed):
    server = FleetServer(tls=self_signed)
    try:
        results = {
            r.instance_id: r
            for r in Prober(LOOPBACK_OK).run(
                [
                    ProbeRequest("verified", server.url("ok"), 2),
                    ProbeRequest("unverified", server.url("ok"), 2, ProbeOptions(tls_verify=False)),
                ]
            )
        }
    finally:
        server.close()
    assert results["unverified"].healthy, results["unverified"].error
    assert not results["verified"].healthy and "CERTIFICATE_VERIFY_FAILED" in (
        results["verified"].error or ""
    )


def test_probe_options_do_not_loosen_the_target_policy(fleet):
    loose = ProbeOptions(expected_status="100-599", tls_verify=False)
    (result,) = Prober(TargetPolicy()).run([ProbeRequest("a", fleet.url("ok"), 1, loose)])
    assert not result.contacted and fleet.hits["ok"] == 0


def _chunked(body: bytes, size: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


READY = ProbeOptions(body_contains="READY")


@pytest.mark.parametrize(
    "answer,options,piece,healthy",
    [
        # 1-byte chunks, the text at offset 20,000 of the body (about 100 KB of chunk framing before it)
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"x" * 20_000 + b"READY", 1),
            READY,
            4096,
            True,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nREADY", READY, 0, True),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n\r\nREADY",
            READY,
            0,
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", None, 1, True),
        # an interim answer is not the verdict: the final one is
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", None, 0, False),
        (b"HTTP/1.1 103 Early Hints\r\n\r\n", None, 0, False),  # and no final answer at all
    ],
)
def test_healthy_answers_in_any_legal_framing_are_healthy(answer, options, piece, healthy):
    with RawAnswerServer(answer, piece=piece) as server:
        (result,) = Prober(LOOPBACK_OK).run([ProbeRequest("a", server.url, 3, options)])
    assert result.healthy is healthy, result.error


def test_an_answer_that_keeps_the_connection_open_after_its_last_chunk_is_judged_at_once():
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"READY", 2)
    with RawAnswerServer(answer, keep_open=True) as server:
        (result,) = Prober(LOOPBACK_OK).run([ProbeRequest("a", server.url, 2, READY)])
    assert result.healthy, result.error
    assert result.latency_ms is not None and result.latency_ms < 1500  # not the 2 s timeout


def test_a_vantage_probes_from_its_own_source_address_over_http_https_and_tcp(self_signed):
    """Bind before connect, whatever the scheme: the local stack's vantages are source addresses."""
    plain, tls, tcp = FleetServer(), FleetServer(tls=self_signed), TcpServer()
    try:
        requests = [
            ProbeRequest("http", plain.url("ok"), 2),
            ProbeRequest("https", tls.url("ok"), 2, ProbeOptions(tls_verify=False)),
            ProbeRequest("tcp", f"tcp://127.0.0.1:{tcp.port}", 2),
        ]
        results = Prober(LOOPBACK_OK, source_address="127.0.0.3").run(requests)
    finally:
        plain.close()
        tls.close()
        tcp.close()
    assert all(r.healthy for r in results), results
    assert plain.seen_from == tls.seen_from == tcp.seen_from == {"127.0.0.3"}
