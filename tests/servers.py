"""Local instances for probe and sweep tests: an HTTP server whose paths answer as told, and a TCP one."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class FleetServer:
    """`http://127.0.0.1:{port}/{name}` answers by `modes[name]`: ok (200), redirect (302), fail (500),
    hang (accept, never answer), or by `answers[name]`: (status, body, chunked). Every request is
    counted per name. With `tls` (a (certificate, key) pair of files) it serves https."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.modes: dict[str, str] = {}
        self.answers: dict[str, tuple[int, bytes, bool]] = {}
        self.hits: Counter[str] = Counter()
        # source addresses partitioned from this server: their connections are closed unanswered
        self.unreachable_from: set[str] = set()
        self.seen_from: set[str] = set()  # the source address of every connection
        self._lock = threading.Lock()
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/")
                with fleet._lock:
                    fleet.hits[name] += 1
                if name in fleet.answers:
                    self._answer(*fleet.answers[name])
                    return
                mode = fleet.modes.get(name, "ok")
                if mode == "hang":
                    time.sleep(3)
                    return
                code = {"ok": 200, "redirect": 302, "fail": 500}[mode]
                self.send_response(code)
                if code == 302:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, status: int, body: bytes, chunked: bool) -> None:
                self.send_response(status)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for at in range(0, len(body), 7):  # small chunks: text spans them
                        piece = body[at : at + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # a sweep opens hundreds of connections at once

            def verify_request(self, request: object, client_address: tuple[str, int]) -> bool:
                fleet.seen_from.add(client_address[0])
                return client_address[0] not in fleet.unreachable_from

        self.server = Server(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TcpServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.seen_from: set[str] = set()
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.seen_from.add(conn.getpeername()[0])
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _HoldingServer:
    """A listener on loopback that accepts in a thread of its own and holds every connection open until
    closed; `_accepted` decides what a connection gets. `connections` counts those it accepted."""

    def __init__(self, path: str = "") -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self._accepted(conn)
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HangingServer(_HoldingServer):
    """Accepts every connection, reads what it is sent, and never answers (until closed): a dependency
    that hangs, as opposed to one that refuses."""

    def _accepted(self, conn: socket.socket) -> None:
        pass  # kept open, never answered


class KeepAliveServer(_HoldingServer):
    """Answers every request with 200, a body and its Content-Length, and keeps the connection open
    (it ignores `Connection: close`), as some servers do."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        super().__init__("/")

    def _accepted(self, conn: socket.socket) -> None:
        conn.recv(4096)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body)
        conn.sendall(head + self.body)


class RawAnswerServer(_HoldingServer):
    """Answers every request with the bytes given, written in pieces of `piece` bytes (1: one byte a
    write), then closes the connection, or holds it open with `keep_open`: for answers a library
    server would never send (interim 1xx, no header lines, 1-byte chunks)."""

    def __init__(self, answer: bytes, *, piece: int = 0, keep_open: bool = False) -> None:
        self.answer, self.piece, self.keep_open = answer, piece, keep_open
        super().__init__("/")

    def _accepted(self, conn: socket.socket) -> None:
        conn.recv(4096)
        step = self.piece or len(self.answer)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for start in range(0, len(self.answer), step):
                conn.sendall(self.answer[start : start + step])
            if not self.keep_open:
                conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the probe had read what it needed and hung up


class SlowSns:
    """An SNS endpoint that takes every PublishBatch after `delay` seconds, answering as SNS does,
    and keeps what it took: `batches`, the notification ids of each call (the Message's `id`)."""

    def __init__(self, delay: float) -> None:
        import json
        from urllib.parse import parse_qsl

        self.batches: list[list[str]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                entries = sorted(
                    (k.split(".")[2], v)
                    for k, v in form.items()
                    if k.startswith("PublishBatchRequestEntries.member.") and k.endswith(".Id")
                )
                time.sleep(delay)
                with lock:
                    outer.batches.append(
                        [
                            json.loads(form[f"PublishBatchRequestEntries.member.{n}.Message"])["id"]
                            for n, _ in entries
                        ]
                    )
                members = "".join(
                    f"<member><Id>{i}</Id><MessageId>m{i}</MessageId></member>" for _, i in entries
                )
                body = (
                    "<PublishBatchResponse><PublishBatchResult>"
                    f"<Successful>{members}</Successful><Failed/></PublishBatchResult></PublishBatchResponse>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
