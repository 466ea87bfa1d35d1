"""HTTP/HTTPS and TCP probes, many at once on one event loop, each bounded by the proxy's timeout.

The policy is applied to every address the host resolves to, and the probe connects to the checked
address itself, so DNS cannot swap in a forbidden one between check and connect. Redirects are not
followed (a 3xx is a healthy answer by default), so they cannot lead a probe anywhere either; the same
policy holds whatever an instance's probe options say. The options: the statuses that count as healthy
(default 200-399), text the first 64 KiB of the body must contain, and whether the certificate of an
https:// target is verified (default yes; no accepts self-signed ones).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..domain.models import ProbeOptions
from ..http_answer import HttpAnswer
from .policy import ProbeTarget, TargetPolicy, host_address, parse_target

USER_AGENT = "proxy-failover-health/1.0"
# A canary's probe id: never an instance's (those are UUIDs).
CANARY = "canary:"
DEFAULT_OPTIONS = ProbeOptions()


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    instance_id: str
    url: str
    timeout_seconds: float
    options: ProbeOptions | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    instance_id: str
    healthy: bool
    latency_ms: float | None
    error: str | None = None
    contacted: bool = True


class Refused(NamedTuple):
    """A target the policy forbids, and why: the probe does not connect."""

    reason: str


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class Prober:
    def __init__(
        self,
        policy: TargetPolicy,
        concurrency: int = 500,
        resolver: Resolver = system_resolver,
        *,
        source_address: str | None = None,
    ) -> None:
        self.policy = policy
        self.concurrency = max(1, concurrency)
        self.resolver = resolver
        # Probes leave from this address (a vantage's, locally): bound before connecting.
        self.local_addr = None if source_address is None else (source_address, 0)
        self._tls = ssl.create_default_context()
        self._tls_unverified = ssl.create_default_context()
        self._tls_unverified.check_hostname = False
        self._tls_unverified.verify_mode = ssl.CERT_NONE

    def run(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        if not requests:
            return []
        try:
            import uvloop  # a C event loop: half the CPU per probe of asyncio's own
        except ImportError:  # pragma: no cover - platforms without uvloop wheels
            return asyncio.run(self.probe_all(requests))
        return uvloop.run(self.probe_all(requests))

    async def probe_all(
        self, requests: Sequence[ProbeRequest], gate: asyncio.Semaphore | None = None
    ) -> list[ProbeResult]:
        """Every request at once, at most `concurrency` in flight (`gate`: shared by several calls)."""
        gate = gate or asyncio.Semaphore(self.concurrency)

        async def bounded(request: ProbeRequest) -> ProbeResult:
            async with gate:
                return await self.probe(request)

        return list(await asyncio.gather(*(bounded(r) for r in requests)))

    async def probe(self, request: ProbeRequest) -> ProbeResult:
        started = time.perf_counter()
        try:
            target = parse_target(request.url)
        except Exception as exc:
            return ProbeResult(request.instance_id, False, None, f"bad url: {exc}", contacted=False)
        try:
            async with asyncio.timeout(request.timeout_seconds):
                address = await self._resolve(target)
                if isinstance(address, Refused):
                    return ProbeResult(request.instance_id, False, None, address.reason, contacted=False)
                healthy, detail = await self._check(target, address, request.options or DEFAULT_OPTIONS)
        except TimeoutError:
            return ProbeResult(request.instance_id, False, None, f"timeout after {request.timeout_seconds}s")
        except (OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError) as exc:
            return ProbeResult(request.instance_id, False, None, f"{type(exc).__name__}: {exc}")
        latency = (time.perf_counter() - started) * 1000.0
        return ProbeResult(request.instance_id, healthy, latency, detail)

    async def _resolve(self, target: ProbeTarget) -> str | Refused:
        """The address to connect to, or why not when any address the host resolves to is forbidden."""
        literal = host_address(target.host)
        if literal is not None:
            candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [literal]
        else:
            candidates = [
                ipaddress.ip_address(a.split("%", 1)[0])
                for a in await self.resolver(target.host, target.port)
            ]
        if not candidates:
            raise OSError(f"{target.host} did not resolve")
        for candidate in candidates:
            reason = self.policy.refusal(candidate)
            if reason:
                return Refused(f"refused: {target.host} resolves to {candidate}: {reason}")
        return str(candidates[0])

    async def _check(
        self, target: ProbeTarget, address: str, options: ProbeOptions
    ) -> tuple[bool, str | None]:
        loop = asyncio.get_running_loop()
        tls = None
        if target.scheme == "https":
            tls = self._tls if options.tls_verify else self._tls_unverified
        done: asyncio.Future[HttpAnswer] = loop.create_future()
        request = b"" if target.scheme == "tcp" else _http_request(target)
        want_body = options.body_contains is not None
        transport, _ = await loop.create_connection(
            lambda: _AnswerReader(done, request, HttpAnswer(want_body)),
            address,
            target.port,
            ssl=tls,
            server_hostname=target.host if tls else None,
            local_addr=self.local_addr,
        )
        try:
            if target.scheme == "tcp":
                return True, None
            answer = await done
        finally:
            transport.abort()
        if answer.status is None:
            return False, answer.error or "not an HTTP response"
        if not options.accepts(answer.status):
            return False, f"HTTP {answer.status}"
        if options.body_contains is not None and options.body_contains.encode() not in answer.body:
            return False, "body lacks the expected text"
        return True, None


def _http_request(target: ProbeTarget) -> bytes:
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != (443 if target.scheme == "https" else 80):
        host_header += f":{target.port}"
    return (
        f"GET {target.path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "ignore")


class _AnswerReader(asyncio.Protocol):
    """Sends the request and feeds what comes back to an `HttpAnswer` until it can be judged (the final
    status line; with a body to read, up to its first 64 KiB, or its end): a bare protocol, no stream
    objects, which matters at thousands of probes a second."""

    def __init__(self, done: asyncio.Future[HttpAnswer], request: bytes, answer: HttpAnswer) -> None:
        self.done = done
        self.request = request
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.request:
            transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.done.done() and self.answer.feed(data):
            self.done.set_result(self.answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is not None and self.answer.status is None:
            self.done.set_exception(exc)
            return
        self.answer.closed()
        self.done.set_result(self.answer)


class ProbeLoop:
    """A prober on an event loop of its own thread, so a sweep probes the next batches while it writes
    the results of the previous ones. `submit` returns a future per batch; batches share one bound of
    `concurrency` probes in flight. Close it when done (it holds a thread)."""

    def __init__(self, prober: Prober) -> None:
        import threading

        self.prober = prober
        self.loop: asyncio.AbstractEventLoop
        try:
            import uvloop  # a C event loop: half the CPU per probe of asyncio's own

            self.loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - platforms without uvloop wheels
            self.loop = asyncio.new_event_loop()
        self._gate: asyncio.Semaphore | None = None
        self._pending = 0  # probes submitted and not finished, whatever their batch
        self._count = threading.Lock()
        self._thread = threading.Thread(target=self.loop.run_forever, name="probe-loop", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Probes submitted and not yet finished: a batch waiting for one slow probe counts one."""
        return self._pending

    def submit(self, requests: Sequence[ProbeRequest]) -> concurrent.futures.Future[list[ProbeResult]]:
        if not requests:
            done: concurrent.futures.Future[list[ProbeResult]] = concurrent.futures.Future()
            done.set_result([])
            return done
        with self._count:
            self._pending += len(requests)
        return asyncio.run_coroutine_threadsafe(self._probe(list(requests)), self.loop)

    async def _probe(self, requests: list[ProbeRequest]) -> list[ProbeResult]:
        if self._gate is None:  # made on the loop it guards
            self._gate = asyncio.Semaphore(self.prober.concurrency)
        gate = self._gate

        async def counted(request: ProbeRequest) -> ProbeResult:
            try:
                async with gate:
                    return await self.prober.probe(request)
            finally:
                with self._count:
                    self._pending -= 1

        return list(await asyncio.gather(*(counted(r) for r in requests)))

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()
