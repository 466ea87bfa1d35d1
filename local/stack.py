"""`make run`: the whole system on one machine, no Docker, no AWS account.

PostgreSQL (DATABASE_URL, else embedded under .local/), migrations, a local SNS endpoint (moto) with an
SQS subscription whose messages are appended to LOCAL_NOTIFICATIONS_FILE, the HTTP API on
127.0.0.1:$PORT through the real handlers, Swagger UI at /docs, and the sweep every SCHEDULE_SECONDS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .tokens import DEV_SECRET, dev_tokens

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LocalConfig:
    port: int
    schedule_seconds: float
    notifications_file: Path
    data_dir: Path
    database_url: str | None
    aws_port: int | None  # the local SNS/SQS's port (LOCAL_AWS_PORT; unset: a free one)
    # vantage -> the source address its probes leave from (LOCAL_VANTAGES=a=127.0.0.2,b=127.0.0.3);
    # unset: one vantage, `local`, from the system's address
    vantages: dict[str, str | None]

    @classmethod
    def from_environ(cls) -> LocalConfig:
        return cls(
            port=int(os.environ.get("PORT", "3000")),
            schedule_seconds=float(os.environ.get("SCHEDULE_SECONDS", "10")),
            notifications_file=Path(
                os.environ.get("LOCAL_NOTIFICATIONS_FILE", str(ROOT / ".local" / "notifications.jsonl"))
            ),
            data_dir=Path(os.environ.get("LOCAL_DATA_DIR", str(ROOT / ".local"))),
            database_url=os.environ.get("DATABASE_URL") or None,
            aws_port=int(os.environ["LOCAL_AWS_PORT"]) if os.environ.get("LOCAL_AWS_PORT") else None,
            vantages=_vantages(os.environ.get("LOCAL_VANTAGES", "")),
        )


def _vantages(spec: str) -> dict[str, str | None]:
    """LOCAL_VANTAGES, "name=source-address,...": each a group of sweep workers probing from its own
    address (bind before connect); unset, the one vantage `local`."""
    import ipaddress
    import re

    found: dict[str, str | None] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, sep, address = part.partition("=")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SystemExit(f"LOCAL_VANTAGES: {part!r} is not name=address (e.g. a=127.0.0.2)") from None
        if not sep or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name) or name in found:
            raise SystemExit(
                f"LOCAL_VANTAGES: {part!r} does not name a new vantage (lower-case letters, digits)"
            )
        found[name] = address
    return found or {"local": None}


def say(message: str) -> None:
    print(f"[local] {message}", flush=True)


class _Invoker(threading.Thread):
    """Runs a function's invocations on threads of their own, at most `concurrency` at once (its
    reserved concurrency), each with the deployed timeout's proportions to the schedule (runs 7/6 of
    the period, times out at 3/2), so consecutive runs overlap as they do deployed."""

    def __init__(self, name: str, function: str, handler: Any, every: float, concurrency: int) -> None:
        super().__init__(name=name, daemon=True)
        self.function, self.handler, self.every, self.concurrency = function, handler, every, concurrency
        self.stopping = threading.Event()
        self._running: list[threading.Thread] = []

    def _room(self) -> bool:
        self._running = [t for t in self._running if t.is_alive()]
        return len(self._running) < self.concurrency

    def _start(self, event: dict[str, Any], done: Any = None) -> None:
        invocation = threading.Thread(
            target=self._invoke, args=(event, done), name=self.function, daemon=True
        )
        invocation.start()
        self._running.append(invocation)

    def _invoke(self, event: dict[str, Any], done: Any) -> None:
        from proxy_failover.store.db import get_database

        from .apigw import LambdaContext

        try:
            context = LambdaContext(self.function, self.every * 1.5)
            self.handler(event, _StoppableContext(context, self.stopping))
        except Exception as exc:
            say(f"{self.function} failed: {type(exc).__name__}: {exc}")
        finally:
            get_database().discard()  # this invocation's thread ends: so does its connection
            if done is not None:
                done()

    def join_all(self, timeout: float) -> None:
        self.join(timeout)
        for invocation in self._running:
            invocation.join(timeout)


class Scheduler(_Invoker):
    """EventBridge's `rate(...)`: starts the dispatcher every SCHEDULE_SECONDS (skipped while the last
    one still runs: its reserved concurrency is 1)."""

    def __init__(self, handler: Any, every: float) -> None:
        super().__init__("scheduler", "SweepFunction", handler, every, concurrency=1)

    def run(self) -> None:
        event = json.loads((ROOT / "events" / "sweep.json").read_text())
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            if self._room():
                self._start(event)
            next_tick += self.every
            self.stopping.wait(max(0.0, next_tick - time.monotonic()))


class WorkQueueConsumer(_Invoker):
    """Lambda's SQS trigger of the sweep workers: takes the dispatcher's messages off the local work
    queue and runs a worker for each, at most SWEEP_MAX_WORKERS at once (the trigger's maximum
    concurrency); a message is deleted when its worker returns."""

    def __init__(
        self, handler: Any, every: float, concurrency: int, sqs: Any, queue_url: str, vantage: str
    ) -> None:
        super().__init__(f"sweep-workers-{vantage}", "SweepWorkerFunction", handler, every, concurrency)
        self.sqs, self.queue_url = sqs, queue_url

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self._room():
                self.stopping.wait(0.05)
                continue
            try:
                batch = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
                )
            except Exception:
                self.stopping.wait(0.5)
                continue
            for message in batch.get("Messages", []):
                record = {
                    "messageId": message["MessageId"],
                    "body": message["Body"],
                    "eventSource": "aws:sqs",
                }
                receipt = message["ReceiptHandle"]
                self._start({"Records": [record]}, lambda receipt=receipt: self._delete_message(receipt))

    def _delete_message(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except Exception as exc:
            say(f"could not delete a work message: {type(exc).__name__}: {exc}")


class _StoppableContext:
    """The Lambda context, with no time left once the stack is stopping (the sweep then returns)."""

    def __init__(self, inner: Any, stopping: threading.Event) -> None:
        self.inner, self.stopping = inner, stopping
        self.function_name = inner.function_name

    def get_remaining_time_in_millis(self) -> int:
        return 0 if self.stopping.is_set() else int(self.inner.get_remaining_time_in_millis())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def swagger_ui_dir() -> Path:
    """Swagger UI 5 (reads OpenAPI 3.1), as shipped by the swagger-ui-py wheel."""
    import swagger_ui

    return Path(swagger_ui.__file__).with_name("static")


# API Gateway's own limit of a request's payload (HTTP API: 10 MB); the functions' is smaller (413).
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024


def _read_chunked(stream: Any, limit: int) -> bytes | None:
    """A chunked request body (RFC 9112 7.1): its data, trailers skipped; None past `limit` or when
    the framing is broken."""
    data = bytearray()
    while True:
        line = stream.readline(1026)
        try:
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            return None
        if size == 0:
            while stream.readline(8194).strip():  # trailer fields, then the empty line
                pass
            return bytes(data)
        if len(data) + size > limit:
            return None
        data += stream.read(size)
        stream.readline(3)  # the CRLF after the chunk's data


def _http_server(gateway: Any, port: int, database: Any) -> ThreadingHTTPServer:
    swagger = swagger_ui_dir()
    assets = {f"/docs/{p.name}" for p in swagger.iterdir() if p.suffix in {".js", ".css", ".png"}}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Keep-alive with small writes would meet delayed ACKs (40 ms per request): no Nagle, and the
        # whole response goes out in one write.
        wbufsize = -1

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            if self.command == "GET" and parts.path in {"/docs", "/docs/"} | assets:
                self._docs(parts.path)
                return
            body = self._body()
            if body is None:
                return
            # One of the pool's connections for this request: a thread per client, a bounded number
            # of database connections.
            with database.lease():
                status, headers, payload, function = gateway.invoke(
                    self.command, parts.path, parts.query, dict(self.headers.items()), body
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
            if os.environ.get("LOCAL_ACCESS_LOG", "true") == "true":
                say(f"{self.command} {self.path} -> {status} ({function or 'no route'})")

        def _body(self) -> bytes | None:
            """The request body, framed by Content-Length or chunked (API Gateway accepts both); None
            when the request was answered already (a body the gateway would refuse)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                data = _read_chunked(self.rfile, GATEWAY_BODY_LIMIT)
                if data is None:
                    self._refuse(413, b'{"message":"Request Entity Too Large"}')
                return data
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if length > GATEWAY_BODY_LIMIT:
                self._refuse(413, b'{"message":"Request Entity Too Large"}')
                return None
            return self.rfile.read(length) if length > 0 else b""

        def _refuse(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True

        def _docs(self, path: str) -> None:
            name = path.removeprefix("/docs").strip("/") or "index.html"
            if name == "index.html":
                data = _SWAGGER_PAGE.encode()
                kind = "text/html"
            else:
                data = (swagger / name).read_bytes()
                kind = {"css": "text/css", "js": "application/javascript", "png": "image/png"}.get(
                    name.rsplit(".", 1)[-1], "application/octet-stream"
                )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def __getattr__(self, name: str) -> Any:
            # Every method, known or not (HEAD, TRACE, FOO), goes to the gateway, which answers an
            # unrouted one in the JSON envelope as the deployed API does; never http.server's HTML 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 512

    return Server(("127.0.0.1", port), Handler)


_SWAGGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Proxy failover API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>"""


class Stack:
    """Starts and stops every part in order; `close` leaves nothing running."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self._closers: list[Any] = []
        self.url = f"http://127.0.0.1:{config.port}"
        # vantage -> (SQS client, queue URL) of its sweep workers' queue; empty: the dispatcher sweeps itself
        self.work_queues: dict[str, tuple[Any, str]] = {}
        self.emulators: Any = None  # the local SNS/SQS process (none when given an SNS of one's own)

    def start(self) -> None:
        config = self.config
        os.environ.setdefault("JWT_SECRET", DEV_SECRET)
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("SWEEP_DEADLINE_MARGIN_SECONDS", "0.5")
        if config.schedule_seconds > 0:  # the deployed proportions: run 70 s of every 60 s
            os.environ.setdefault("SWEEP_SCHEDULE_SECONDS", str(config.schedule_seconds))
            os.environ.setdefault("SWEEP_RUN_SECONDS", str(config.schedule_seconds * 7 / 6))
        os.environ.setdefault("OUTBOX_GRACE_SECONDS", "5")

        database_url = config.database_url
        if database_url is None:
            from . import embedded_pg

            say(f"starting embedded PostgreSQL in {config.data_dir / 'pgdata'}")
            database_url, handle = embedded_pg.start(config.data_dir / "pgdata")
            self._closers.append(lambda: embedded_pg.stop(handle))
        os.environ["DATABASE_URL"] = database_url

        from proxy_failover.settings import reset_settings

        reset_settings()
        from proxy_failover.store.migrate import migrate

        applied = migrate()
        say(f"database ready ({'applied ' + ', '.join(applied) if applied else 'schema up to date'})")
        _vantages_started(list(config.vantages))
        say(
            "vantages: "
            + ", ".join(
                f"{name} (from {address or 'the default address'})"
                for name, address in config.vantages.items()
            )
        )

        self._start_sns()
        reset_settings()

        from .apigw import Gateway, load_template, routes_from_template

        template = load_template(ROOT / "template.yaml")
        gateway = Gateway(routes_from_template(ROOT, template))
        from proxy_failover.store.db import get_database

        server = _http_server(gateway, config.port, get_database())
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        thread.start()

        def close_http() -> None:
            server.shutdown()
            server.server_close()

        self._closers.append(close_http)
        say(
            f"API on {self.url} ({len(gateway.routes)} routes from template.yaml); Swagger UI on {self.url}/docs"
        )

        if config.schedule_seconds > 0:
            from proxy_failover.settings import get_settings

            from .apigw import _load_handler

            def handler_of(function: str) -> Any:
                properties = template["Resources"][function]["Properties"]
                return _load_handler(ROOT, properties["CodeUri"], properties["Handler"])

            invokers: list[_Invoker] = [Scheduler(handler_of("SweepFunction"), config.schedule_seconds)]
            workers = get_settings().sweep_max_workers
            for vantage, (sqs, url) in self.work_queues.items():
                invokers.append(
                    WorkQueueConsumer(
                        handler_of("SweepWorkerFunction"), config.schedule_seconds, workers, sqs, url, vantage
                    )
                )
            for invoker in invokers:
                invoker.start()

            def stop_sweeping() -> None:
                for invoker in invokers:
                    invoker.stopping.set()
                for invoker in invokers:
                    invoker.join_all(timeout=30)

            self._closers.append(stop_sweeping)
            workers_note = f", up to {workers} workers a vantage" if len(invokers) > 1 else ""
            say(f"dispatcher every {config.schedule_seconds:g} s{workers_note}")
            say(
                "vantages: "
                + ", ".join(
                    f"{name} (from {address or 'the default address'})"
                    for name, address in config.vantages.items()
                )
            )
        else:
            say("scheduled sweep off (SCHEDULE_SECONDS=0)")

    def _start_sns(self) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_SNS")
        if endpoint:
            # The user's own SNS (or a test's): no local one, no notifications file.
            if not os.environ.get("NOTIFICATIONS_TOPIC_ARN"):
                raise SystemExit(
                    "AWS_ENDPOINT_URL_SNS is set: set NOTIFICATIONS_TOPIC_ARN to a topic there too"
                )
            _credentials_for(endpoint)
            if len(self.config.vantages) > 1:
                raise SystemExit(
                    "LOCAL_VANTAGES needs the local SQS its workers' queues live on: unset AWS_ENDPOINT_URL_SNS"
                )
            say(f"SNS at {endpoint} (AWS_ENDPOINT_URL_SNS), topic {os.environ['NOTIFICATIONS_TOPIC_ARN']}")
            return
        import boto3

        from .emulators import CREDENTIALS, REGION, Emulators, bounded

        emulators = Emulators.start(
            self.config.notifications_file,
            self.config.data_dir,
            echo=os.environ.get("LOCAL_ACCESS_LOG", "true") == "true",
            port=self.config.aws_port,
        )
        endpoint = emulators.info["endpoint"]
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_SNS": endpoint,
                "AWS_ENDPOINT_URL_SQS": endpoint,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", CREDENTIALS["AWS_ACCESS_KEY_ID"]),
                "AWS_SECRET_ACCESS_KEY": os.environ.get(
                    "AWS_SECRET_ACCESS_KEY", CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
                ),
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
                "NOTIFICATIONS_TOPIC_ARN": emulators.info["topic"],
            }
        )
        # Each vantage's workers' queue, as deployed: the dispatcher sends, WorkQueueConsumer runs workers.
        sqs = boto3.client(
            "sqs",
            region_name=os.environ["AWS_DEFAULT_REGION"],
            endpoint_url=endpoint,
            config=bounded(),
        )
        vantages = self.config.vantages
        for vantage in vantages:
            url = sqs.create_queue(QueueName=f"sweep-work-{vantage}")["QueueUrl"]
            self.work_queues[vantage] = (sqs, url)
        os.environ["SWEEP_VANTAGE_QUEUES"] = ",".join(
            f"{v}={url}" for v, (_, url) in self.work_queues.items()
        )
        os.environ["SWEEP_VANTAGE"] = next(iter(vantages))
        sources = {v: a for v, a in vantages.items() if a}
        if sources:
            os.environ["PROBE_SOURCE_ADDRESSES"] = ",".join(f"{v}={a}" for v, a in sources.items())
        self.emulators = emulators
        from proxy_failover.settings import reset_settings

        reset_settings()
        self._closers.append(emulators.stop)
        say(
            f"local SNS at {endpoint} (its own process, pid {emulators.process.pid});"
            f" notifications -> {self.config.notifications_file}"
        )
        say(f"topic {emulators.info['topic']}")

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as exc:  # keep closing the rest
                say(f"while stopping: {type(exc).__name__}: {exc}")
        from proxy_failover.store.db import get_database

        get_database().close_pool()


def _vantages_started(names: list[str]) -> None:
    """The stack's vantages start now (as after a deploy): each has two dispatch periods to run before
    it counts as absent, so restarting the stack is no checker outage."""
    from proxy_failover.store.db import get_database

    get_database().autocommit().run(
        "INSERT INTO vantages (name) SELECT unnest(CAST(:names AS text[])) ON CONFLICT (name) DO UPDATE"
        " SET known_since = now()",
        names=names,
    )


def _credentials_for(endpoint: str) -> None:
    """An SNS of the user's own needs credentials to sign with. Outside AWS any will do: without them
    botocore would refuse every publish (NoCredentialsError) for as long as the stack runs, so a
    non-AWS endpoint gets dummy ones; an AWS endpoint without credentials is refused at once."""
    import botocore.session

    if botocore.session.get_session().get_credentials() is not None:
        return
    host = (urlsplit(endpoint).hostname or "").lower()
    if host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"):
        raise SystemExit(
            f"AWS_ENDPOINT_URL_SNS is {endpoint} (AWS) and no AWS credentials are set:"
            " set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    say(f"no AWS credentials set: signing for {endpoint} with dummy ones (it is not AWS)")


def main() -> int:
    config = LocalConfig.from_environ()
    stack = Stack(config)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        user, admin = dev_tokens()
        say(f"JWT_SECRET={os.environ['JWT_SECRET']}")
        say(f"user token:  {user}")
        say(f"admin token: {admin}")
        say(f"console, signed in as the admin: {stack.url}/console#token={admin}")
        say(f"try: curl -s {stack.url}/proxy/demo/instances -H 'Authorization: Bearer <token>'")
        if stack.emulators is not None:
            say(
                f"watch routes: PROXY_FAILOVER_TOKEN=<token> .venv/bin/python -m proxy_failover_client watch demo"
                f" --api {stack.url} --topic-arn {stack.emulators.info['topic']}"
                f" --endpoint-url {stack.emulators.info['endpoint']} --region eu-west-1 --file routes.json"
            )
        say("Ctrl-C stops everything")
        # A signal sent to the process may land on any of its threads; Python runs the handler in the
        # main thread at its next bytecode, which a wait without a timeout never reaches. Waking every
        # half second lets the handler run however the signal arrived.
        while not stopping.wait(0.5):
            pass
    finally:
        say("stopping")
        # Should stopping ever stall, the log shows where every thread was.
        import faulthandler

        faulthandler.dump_traceback_later(20, exit=False)
        stack.close()
        lingering = [
            t.name for t in threading.enumerate() if not t.daemon and t is not threading.current_thread()
        ]
        say("stopped" + (f" (waiting for threads: {', '.join(lingering)})" if lingering else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
