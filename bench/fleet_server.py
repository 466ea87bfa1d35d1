"""A fast loopback fleet for sweep benchmarks: one asyncio server in its own process.

`/ok/...` answers 200, `/fail/...` 500, `/hang/...` accepts and never answers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket


class _Instance(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        path = self.buffer.split(b" ", 2)[1]
        if path.startswith(b"/hang"):
            return
        status = b"500 Internal Server Error" if path.startswith(b"/fail") else b"200 OK"
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")  # type: ignore[attr-defined]
        self.transport.close()


def _serve(sock: socket.socket) -> None:
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
        self.process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(self.sock,), daemon=True
        )

    def __enter__(self) -> FleetProcess:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(timeout=5)
        self.sock.close()

    def url(self, mode: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{name}"
