"""SNS's PublishBatch, signed (AWS Signature Version 4) and sent on a kept-alive connection by the
standard library: the one AWS call on a write's path, without botocore.

Why: botocore spent about 1 ms of CPU a call (signing, serialising, hooks, parsing the XML answer),
a third of what a status-changing write costs the API beyond a report that changes nothing, and a
cold start whose first request published paid boto3's import (~0.3 s) on top. PublishBatch is one
form-encoded POST of the Query protocol; its answer lists what was taken and what was refused.

Credentials are the environment's (Lambda sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN); without them botocore's own chain (profiles, SSO, ...) is asked once, lazily. The
endpoint is SNS's in the topic's region, or AWS_ENDPOINT_URL_SNS / AWS_ENDPOINT_URL as botocore
reads them (the local stack's, a test's).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from ..kernel_timeouts import bound_in_kernel

SERVICE = "sns"
VERSION = "2010-03-31"


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None


class Refused(Exception):
    """SNS answered with an error (a topic that does not exist, a denied call, ...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else f"HTTP {status}: {message}")
        self.status, self.code = status, code


class Unreachable(Exception):
    """No answer: refused, reset or timed out (SNS not answering, as opposed to refusing)."""


class Batch(NamedTuple):
    successful: list[str]  # the entries' ids SNS took
    failed: list[tuple[str, str]]  # (entry id, "Code: message") of those it refused


def credentials() -> Credentials:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    import botocore.session  # a profile, SSO, a container's role: botocore knows them all

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise Refused(0, "NoCredentials", "no AWS credentials are set")
    frozen = found.get_frozen_credentials()
    return Credentials(str(frozen.access_key), str(frozen.secret_key), frozen.token)


def endpoint_for(region: str) -> str:
    configured = os.environ.get("AWS_ENDPOINT_URL_SNS") or os.environ.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sns.{region}.{suffix}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The day's key of a secret for a region and service (four HMACs, the same all day)."""
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")


@lru_cache(maxsize=8)
def _target(url: str) -> tuple[str, str, str]:
    """A URL's Host header (its port only when not the scheme's), canonical path and query."""
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}[parts.scheme]
    host = parts.hostname or ""
    if parts.port and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return host, quote(parts.path or "/", safe="/-_.~"), parts.query


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    creds: Credentials,
    region: str,
    *,
    service: str = SERVICE,
    now: datetime | None = None,
) -> dict[str, str]:
    """`headers` with X-Amz-Date, the session token and the Authorization of Signature Version 4."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    day = moment[:8]
    host, path, query = _target(url)
    signed = {**headers, "Host": host, "X-Amz-Date": moment}
    if creds.token:
        signed["X-Amz-Security-Token"] = creds.token
    canonical = {k.lower(): " ".join(str(v).split()) for k, v in signed.items()}
    names = ";".join(sorted(canonical))
    request = "\n".join(
        [
            method,
            path,
            query,
            "".join(f"{k}:{canonical[k]}\n" for k in sorted(canonical)),
            names,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", moment, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = _signing_key(creds.secret_key, day, region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return signed


def publish_batch_body(topic_arn: str, entries: list[dict[str, Any]]) -> bytes:
    """PublishBatch in the Query protocol's form encoding (`entries` as boto3 takes them). The names
    are the protocol's own (letters, digits and dots, never escaped); only values are."""
    pairs = [f"Action=PublishBatch&Version={VERSION}&TopicArn={_form_value(topic_arn)}"]
    for n, entry in enumerate(entries, start=1):
        member = f"PublishBatchRequestEntries.member.{n}"
        pairs.append(
            f"{member}.Id={_form_value(entry['Id'])}&{member}.Message={_form_value(entry['Message'])}"
        )
        for k, (name, value) in enumerate(sorted(entry.get("MessageAttributes", {}).items()), start=1):
            attribute = f"{member}.MessageAttributes.entry.{k}"
            pairs.append(
                f"{attribute}.Name={_form_value(name)}"
                f"&{attribute}.Value.DataType={_form_value(value['DataType'])}"
                f"&{attribute}.Value.StringValue={_form_value(value['StringValue'])}"
            )
    return "&".join(pairs).encode()


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
# Every other ASCII character with its escape, "%" first (an escape's own "%" is never escaped again).
_ASCII_ESCAPES = sorted(
    ((chr(c), f"%{c:02X}") for c in range(128) if chr(c) not in _UNRESERVED), key=lambda e: e[0] != "%"
)
# Short values (attribute names, types, severities, proxy ids) recur in nearly every message.
_short_values: dict[str, str] = {}


def _form_value(value: str) -> str:
    """RFC 3986 percent-encoding of everything but the unreserved characters, as botocore sends it.
    An ASCII value (a message's JSON, which escapes the rest) is escaped character by character that
    it holds, in C (str.replace), instead of byte by byte in Python, as `quote` does."""
    found = _short_values.get(value)
    if found is not None:
        return found
    if not value.isascii():
        encoded = quote(value, safe="-_.~")
    else:
        encoded = value
        for character, escape in _ASCII_ESCAPES:
            if character in encoded:
                encoded = encoded.replace(character, escape)
    if len(value) <= 64 and len(_short_values) < 4096:
        _short_values[value] = encoded
    return encoded


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node.iter() if c.tag.rsplit("}", 1)[-1] == name]


def _text(node: Any, name: str) -> str:
    found = _children(node, name)
    return (found[0].text or "") if found else ""


# SNS's answer when it took every entry: the Successful members' ids and an empty Failed. Read
# without building a tree (a tenth of the time); any other answer goes through the XML parser.
_ALL_TAKEN = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?<PublishBatchResponse[^>]*>\s*<PublishBatchResult>\s*"
    rb"(?:<Failed\s*/>\s*)?<Successful>((?:\s*<member>[^&]*?</member>)*)\s*</Successful>\s*"
    rb"(?:<Failed\s*/>\s*)?</PublishBatchResult>"
)
_MEMBER_ID = re.compile(rb"<member>\s*(?:<[A-Za-z]+>[^<]*</[A-Za-z]+>\s*)*?<Id>([^<]*)</Id>")


def parse_batch(status: int, raw: bytes) -> Batch:
    if status == 200:
        taken = _ALL_TAKEN.match(raw)
        if taken is not None:
            return Batch([i.decode() for i in _MEMBER_ID.findall(taken.group(1))], [])
    from xml.etree import ElementTree

    try:
        # the answer of the SNS endpoint configured; expat (>= 2.4.1) bounds entity expansion
        root = ElementTree.fromstring(raw)  # noqa: S314
    except ElementTree.ParseError:
        raise Refused(status, "", raw[:200].decode(errors="replace")) from None
    if status >= 300 or root.tag.rsplit("}", 1)[-1] == "ErrorResponse":
        raise Refused(status, _text(root, "Code"), _text(root, "Message"))
    ok = [_text(m, "Id") for s in _children(root, "Successful") for m in _children(s, "member")]
    failed = [
        (_text(m, "Id"), f"{_text(m, 'Code')}: {_text(m, 'Message')}")
        for s in _children(root, "Failed")
        for m in _children(s, "member")
    ]
    return Batch(ok, failed)


class Client:
    """PublishBatch to one region's SNS: one attempt a call, within `connect_timeout` to connect and
    `read_timeout` for each read, on a connection kept alive per thread. A kept connection the server
    closed meanwhile (it does after idling) is replaced once before anything was answered.

    The request goes out in one write and its answer is read by the probes' HTTP/1.x reader (status,
    framing, interim answers): http.client built a reader and an email-parsed header object per
    answer, a third of a publish's CPU."""

    def __init__(self, region: str, connect_timeout: float, read_timeout: float) -> None:
        self.region, self.connect_timeout, self.read_timeout = region, connect_timeout, read_timeout
        self.url = endpoint_for(region)
        parts = urlsplit(self.url)
        self._scheme, self._host, self._path = parts.scheme, parts.hostname or "", (parts.path or "") + "/"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._local = threading.local()

    def publish_batch(self, topic_arn: str, entries: list[dict[str, Any]]) -> Batch:
        body = publish_batch_body(topic_arn, entries)
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        sent = signed_headers("POST", self.url + "/", body, headers, credentials(), self.region)
        head = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
        request = f"POST {self._path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        for attempt in (1, 2):
            kept: socket.socket | None = getattr(self._local, "sock", None)
            sock = kept or self._connect()
            try:
                status, answer, reusable = _exchange(sock, request)
            except _ClosedBeforeAnswer as exc:
                self._drop(sock)
                if kept is not None and attempt == 1:
                    continue  # a kept connection the server had closed: the request never got there
                raise Unreachable(str(exc)) from exc
            except (OSError, ValueError) as exc:  # timeouts included
                self._drop(sock)
                raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
            if reusable:
                self._local.sock = sock
            else:
                self._drop(sock)
            return parse_batch(status, answer)
        raise AssertionError("unreachable")

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self.connect_timeout)
            if self._scheme == "https":
                sock = _tls().wrap_socket(sock, server_hostname=self._host)
        except OSError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        bound_in_kernel(sock, self.read_timeout)  # as settimeout, without a poll() before each call
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _drop(self, sock: socket.socket) -> None:
        if getattr(self._local, "sock", None) is sock:
            self._local.sock = None
        try:
            sock.close()
        except OSError:
            pass


class _ClosedBeforeAnswer(Exception):
    """The connection ended before a byte of the answer came."""


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
    """Send `request`, read its answer: (status, body, whether the connection may be used again)."""
    from ..http_answer import HttpAnswer

    try:
        sock.sendall(request)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise _ClosedBeforeAnswer(f"{type(exc).__name__}: {exc}") from exc
    answer, received = HttpAnswer(want_body=True), False
    while not answer.done:
        try:
            data = sock.recv(65536)
        except ConnectionResetError as exc:
            if not received:
                raise _ClosedBeforeAnswer(f"{type(exc).__name__}: {exc}") from exc
            raise
        if not data:
            if not received:
                raise _ClosedBeforeAnswer("the connection closed before an answer")
            answer.closed()
            break
        received = True
        answer.feed(data)
    if answer.status is None:
        raise ValueError(answer.error or "not an HTTP answer")
    return answer.status, answer.body, answer.reusable


_context: Any = None


def _tls() -> Any:
    """The system's CA store, loaded once (it costs tens of milliseconds)."""
    global _context
    if _context is None:
        import ssl

        _context = ssl.create_default_context()
    return _context
