"""A fast loopback fleet for sweep races and benchmarks: one asyncio server in its own process, and
a bulk loader for thousands of proxies.

`/ok/...` answers 200, `/fail/...` 500, `/hang/...` accepts and never answers. `hits` counts the
requests the fleet received, whatever it answered.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import socket
from multiprocessing.sharedctypes import Synchronized


class _Instance(asyncio.Protocol):
    hits: Synchronized[int] | None = None
    blind: Synchronized[int] | None = None  # 1: every connection is closed unanswered (a partition)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""
        if self.blind is not None and self.blind.value:
            transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        path = self.buffer.split(b" ", 2)[1]
        if self.hits is not None:
            with self.hits.get_lock():
                self.hits.value += 1
        if path.startswith(b"/hang"):
            return
        status = b"500 Internal Server Error" if path.startswith(b"/fail") else b"200 OK"
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")  # type: ignore[attr-defined]
        self.transport.close()


def _serve(sock: socket.socket, hits: Synchronized[int], blind: Synchronized[int]) -> None:
    _Instance.hits = hits
    _Instance.blind = blind

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Instance, sock=sock, backlog=8192)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class FleetProcess:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8192)
        self.port = self.sock.getsockname()[1]
        context = multiprocessing.get_context("fork")
        self._hits = context.Value("q", 0)
        self._blind = context.Value("i", 0)
        self.process = context.Process(target=_serve, args=(self.sock, self._hits, self._blind), daemon=True)

    def __enter__(self) -> FleetProcess:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(timeout=5)
        self.sock.close()

    @property
    def hits(self) -> int:
        return int(self._hits.value)

    def blind(self) -> None:
        """Cut every checker off: connections are closed unanswered until `see`."""
        self._blind.value = 1

    def see(self) -> None:
        self._blind.value = 0

    def url(self, mode: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{name}"


def populate(
    db,
    fleet: FleetProcess,
    rng: random.Random,
    proxies_count: int,
    per_proxy: int = 4,
    unhealthy_threshold: int = 3,
    timeout_seconds: int = 1,
    interval_seconds: int = 30,
    mix: tuple[float, float] = (0.02, 0.12),
    prefix: str = "bench",
    owner: str = "bench",
) -> list[tuple[str, str]]:
    """Bulk-insert the fleet already healthy (steady state), every proxy due now; of its instances,
    `mix` says which share hangs and which fails (the rest answer 200)."""
    con = db.autocommit()
    proxies, configs, instances = [], [], []
    urls: list[tuple[str, str]] = []
    for p in range(proxies_count):
        proxy_id = f"{prefix}-{p:05d}"
        proxies.append({"proxy_id": proxy_id, "owner_id": owner})
        configs.append({"proxy_id": proxy_id})
        for k in range(per_proxy):
            draw = rng.random()
            mode = "hang" if draw < mix[0] else ("fail" if draw < mix[1] else "ok")
            url = fleet.url(mode, f"{proxy_id}-{k}")
            instances.append(
                {"proxy_id": proxy_id, "instance_name": f"i{k}", "priority": k, "health_check_url": url}
            )
            urls.append((mode, url))
    con.run(
        "INSERT INTO proxies (proxy_id, owner_id) SELECT r.proxy_id, r.owner_id"
        " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(proxy_id text, owner_id text)",
        rows=json.dumps(proxies),
    )
    con.run(
        "INSERT INTO proxy_failover_configurations (proxy_id, health_check_interval_seconds,"
        " health_check_timeout_seconds, unhealthy_threshold)"
        " SELECT r.proxy_id, :interval, :timeout, :fall FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(proxy_id text)",
        rows=json.dumps(configs),
        interval=interval_seconds,
        fall=unhealthy_threshold,
        timeout=timeout_seconds,
    )
    con.run(
        "INSERT INTO proxy_instances (proxy_id, instance_name, priority, health_check_url, health_status,"
        " consecutive_successes, last_status_change)"
        " SELECT r.proxy_id, r.instance_name, r.priority, r.health_check_url, 'healthy', 2, now() - interval '1 hour'"
        " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(proxy_id text, instance_name text, priority integer,"
        " health_check_url text)",
        rows=json.dumps(instances),
    )
    con.run(
        "UPDATE proxies p SET active_instance_id = i.id FROM proxy_instances i"
        " WHERE i.proxy_id = p.proxy_id AND i.priority = 0 AND p.owner_id = :owner",
        owner=owner,
    )
    con.run(
        "UPDATE proxy_schedule SET next_check_at = now() WHERE proxy_id IN"
        " (SELECT r.proxy_id FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(proxy_id text))",
        rows=json.dumps(proxies),
    )
    return urls
