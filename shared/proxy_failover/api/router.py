"""A small resolver for API Gateway HTTP API (payload 2.0) events.

It follows the shape of powertools' APIGatewayHttpResolver (decorated routes, typed bodies, errors
mapped in one place) at a fraction of its import cost: an API handler's cold start is mostly imports.
Routes carry their OpenAPI metadata, so `contract/openapi.py` generates the document from them.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from ..errors import (
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    PayloadTooLarge,
    ProxyFailoverError,
    RouteNotFound,
)
from ..identity import Principal
from ..ids import PROXY_ID_RULE, canonical_uuid, is_proxy_id, parse_integer
from ..observability import begin_invocation, correlation_id, emit_metric, end_invocation, get_logger
from ..paging import Page, decode_cursor, encode_cursor
from ..settings import get_settings
from .auth import authenticate
from .errors import RETRY_AFTER_SECONDS, envelope, status_for

logger = get_logger("api")
B = TypeVar("B")
Q = TypeVar("Q")


class Request(NamedTuple, Generic[B, Q]):
    principal: Principal
    path: dict[str, str]
    body: B
    query: Q
    event: dict[str, Any]

    def header(self, name: str) -> str | None:
        """A request header, by its name in any case (API Gateway lower-cases them)."""
        wanted = name.lower()
        return next((v for k, v in (self.event.get("headers") or {}).items() if k.lower() == wanted), None)


class Tagged(NamedTuple):
    """A view with an entity tag: answered 304 (no body) to a request whose If-None-Match names it.
    Without a tag of its own (`etag` None), the tag is that of the answer's body, hashed as it is
    serialised once (a page of 100 proxies was serialised twice, for its tag and for its body)."""

    view: Any
    etag: str | None = None


class Said(NamedTuple):
    """A view with a message of its own instead of the route's (a dry run says it changed nothing)."""

    view: Any
    message: str


class QueryInt(NamedTuple):
    """An integer query parameter: parsed and range-checked without pydantic."""

    minimum: int
    maximum: int
    default: int
    description: str = ""

    def parse(self, name: str, raw: str | None) -> int:
        if raw is None or raw == "":
            return self.default
        value = parse_integer(raw)
        if value is None:
            raise InvalidInput(
                f"query parameter {name} must be an integer",
                details=[{"field": name, "message": "must be an integer", "type": "int_parsing"}],
            )
        if not self.minimum <= value <= self.maximum:
            message = f"must be between {self.minimum} and {self.maximum}"
            raise InvalidInput(
                f"query parameter {name} {message}",
                details=[{"field": name, "message": message, "type": "range"}],
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum, "default": self.default}


def _bad_query(name: str, message: str, kind: str) -> InvalidInput:
    return InvalidInput(
        f"query parameter {name} {message}", details=[{"field": name, "message": message, "type": kind}]
    )


class QueryText(NamedTuple):
    """A text query parameter matched whole by `pattern` (a regular expression without anchors)."""

    pattern: str
    rule: str  # what the pattern allows, in words, for the error and the document
    description: str = ""

    def parse(self, name: str, raw: str | None) -> str | None:
        if raw is None or raw == "":
            return None
        if re.fullmatch(self.pattern, raw) is None:
            raise _bad_query(name, f"must be {self.rule}", "string_pattern_mismatch")
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{self.pattern}$"}


class QueryChoice(NamedTuple):
    """A query parameter that names one of a fixed set of values."""

    choices: tuple[str, ...]
    description: str = ""

    def parse(self, name: str, raw: str | None) -> str | None:
        if raw is None or raw == "":
            return None
        if raw not in self.choices:
            raise _bad_query(name, f"must be one of {', '.join(self.choices)}", "enum")
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class QueryTime(NamedTuple):
    """A time query parameter: ISO 8601 with its time zone (offset or Z), as UTC."""

    description: str = ""

    def parse(self, name: str, raw: str | None) -> datetime | None:
        if raw is None or raw == "":
            return None
        try:
            parsed = datetime.fromisoformat(raw) if len(raw) <= 64 else None
            utc = None if parsed is None or parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            utc = None
        if utc is None:
            raise _bad_query(name, "must be an ISO 8601 time with its time zone", "datetime_parsing")
        return utc

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class QueryBool(NamedTuple):
    """A boolean query parameter: `true` or `false` (absent: `default`; None: no filter)."""

    default: bool | None = False
    description: str = ""

    def parse(self, name: str, raw: str | None) -> bool | None:
        if raw is None or raw == "":
            return self.default
        if raw not in {"true", "false"}:
            raise InvalidInput(
                f"query parameter {name} must be true or false",
                details=[{"field": name, "message": "must be true or false", "type": "bool_parsing"}],
            )
        return raw == "true"

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"} if self.default is None else {"type": "boolean", "default": self.default}


class QueryCursor(NamedTuple):
    """The `cursor` of a paged list: the `nextCursor` of the page before, handed back unchanged."""

    description: str = "Where the page starts: the nextCursor of the previous page (omit for the first)"

    def parse(self, name: str, raw: str | None) -> list[Any] | None:
        return None if raw is None or raw == "" else decode_cursor(raw)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": 512}


QueryParameter = QueryInt | QueryBool | QueryCursor | QueryText | QueryChoice | QueryTime


class Route(NamedTuple):
    method: str
    path: str
    func: Callable[[Request[Any, Any]], Any]
    summary: str
    # The path as a regular expression with a named group per {parameter}.
    pattern: re.Pattern[str]
    # Name of the request body in contract/request_bodies.py (validated by api/bodies.py).
    body: str | None = None
    query: dict[str, QueryParameter] | None = None
    # Name of the documented response schema in contract/response_bodies.py; "Name[]" for a list.
    response: str | None = None
    status: int = 200
    admin: bool = False
    public: bool = False
    errors: tuple[int, ...] = ()
    message: str | None = None
    # Request headers the operation reads (name -> what it means), for the document.
    headers: dict[str, str] | None = None
    # Answers with an ETag and 304 to a matching If-None-Match (the handler returns `Tagged`).
    tagged: bool = False
    # What a success carries (a page: text/html), for the document.
    media_type: str = "application/json"
    # In the OpenAPI document (a page's scripts and styles are not operations of the API).
    listed: bool = True


def path_pattern(path: str) -> re.Pattern[str]:
    """/proxy/{proxyId}/instances -> ^/proxy/(?P<proxyId>[^/]+)/instances$"""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


def _response(status: int, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def body_tag(body: str) -> str:
    """The strong entity tag of an answer's body (as `etags.entity_tag` spells a tag)."""
    import hashlib

    return f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'


def _answered_by_tag(request: Request[Any, Any], etag: str, headers: dict[str, str]) -> bool:
    """Set the ETag header; True when the request's If-None-Match names it (the answer is then 304)."""
    headers["ETag"] = etag
    named = _entity_tags(request.header("If-None-Match"))
    return etag in named or "*" in named


def _not_modified(headers: dict[str, str]) -> dict[str, Any]:
    return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}


def error_response(exc: ProxyFailoverError) -> dict[str, Any]:
    status = status_for(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    message = exc.message if status != 500 else "internal error"
    return _response(status, envelope(exc.code, message, status, exc.details), headers)


def _entity_tags(header: str | None) -> set[str]:
    """The tags an If-None-Match header names (weak ones compare as strong for GET, RFC 9110)."""
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",") if tag.strip()}


def _path_params(params: dict[str, str]) -> dict[str, str]:
    """Checked path parameters, ids in the server's spelling (an upper-case UUID names the same row).
    Captured from `rawPath`, so percent-decoded here (as API Gateway's `pathParameters` are)."""
    from urllib.parse import unquote

    checked = {}
    for name, raw in params.items():
        value = unquote(raw)
        if name == "proxyId":
            valid: str | None = value if is_proxy_id(value) else None
            expected = PROXY_ID_RULE
        else:
            valid, expected = canonical_uuid(value), "a UUID"
        if valid is None:
            raise InvalidInput(
                f"path parameter {name} must be {expected}",
                details=[{"field": name, "message": f"must be {expected}", "type": "path"}],
            )
        checked[name] = valid
    return checked


class Api:
    """One Lambda function's routes. `handler = api.handler` is the Lambda entry point.

    `documented` serves API Gateway's `$default` route: the (method, path) pairs of the whole API, so
    that a request no route takes is a 405 on a known path and a 404 elsewhere.
    """

    def __init__(self, documented: Callable[[], list[tuple[str, str]]] | None = None) -> None:
        self.routes: list[Route] = []
        self._documented = documented

    def route(
        self, method: str, path: str, *, summary: str, **options: Any
    ) -> Callable[[Callable[[Request[Any, Any]], Any]], Callable[[Request[Any, Any]], Any]]:
        def register(func: Callable[[Request[Any, Any]], Any]) -> Callable[[Request[Any, Any]], Any]:
            self.routes.append(Route(method.upper(), path, func, summary, path_pattern(path), **options))
            return func

        return register

    def get(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("DELETE", path, **options)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found:
                if route.method == method:
                    return route, found.groupdict()
                allowed = True
        if self._documented is not None:
            allowed = allowed or any(path_pattern(p).fullmatch(path) for _, p in self._documented())
        if allowed:
            raise MethodNotAllowed(f"{method} is not allowed on {path}")
        raise RouteNotFound(f"no route for {method} {path}")

    def handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        invocation = begin_invocation(context, get_settings())
        request_context = event.get("requestContext") or {}
        http = request_context.get("http") or {}
        method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
        path = str(event.get("rawPath") or http.get("path") or "/")
        token = correlation_id.set(str(request_context.get("requestId") or uuid.uuid4()))
        status = 500
        try:
            response = self._dispatch(event, method, path)
            status = response["statusCode"]
            return response
        finally:
            logger.info(
                "request",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
            correlation_id.reset(token)
            end_invocation(invocation)

    def _dispatch(self, event: dict[str, Any], method: str, path: str) -> dict[str, Any]:
        try:
            route, params = self._match(method, path)
            settings = get_settings()
            principal = Principal("anonymous") if route.public else authenticate(event, settings)
            if route.admin and not principal.is_admin:
                raise Forbidden("this operation requires the admin role")
            params = _path_params(params)
            body = self._body(route, event, settings.max_body_bytes)
            query = self._query(route, event)
            request = Request(principal, params, body, query, event)
            result = route.func(request)
            if isinstance(result, dict) and "statusCode" in result:
                return result  # a raw response (e.g. a static document)
            headers: dict[str, str] = {}
            tagged, tag = isinstance(result, Tagged), None
            if isinstance(result, Tagged):
                if result.etag is not None and _answered_by_tag(request, result.etag, headers):
                    return _not_modified(headers)
                tag, result = result.etag, result.view
            message = route.message
            if isinstance(result, Said):
                result, message = result.view, result.message
            payload: dict[str, Any]
            if isinstance(result, Page):
                cursor = None if result.next_key is None else encode_cursor(result.next_key)
                payload = {"data": result.items, "nextCursor": cursor}
            else:
                payload = {"data": result}
            if message:
                payload["message"] = message
            response = _response(route.status, payload, headers)
            if tagged and tag is None:
                if _answered_by_tag(request, body_tag(response["body"]), headers):
                    return _not_modified(headers)
                response["headers"]["ETag"] = headers["ETag"]
            return response
        except ProxyFailoverError as exc:
            if status_for(exc) == 503:  # the database refused: an alarm counts these
                emit_metric(get_settings(), "DatabaseUnavailable", 1)
            if status_for(exc) >= 500 or exc.internal:
                logger.warning(
                    "request refused",
                    extra={"error": exc.message, "code": exc.code, "internal": exc.internal},
                )
            return error_response(exc)
        except Exception:
            logger.exception("unhandled error")
            return _response(500, envelope("PROXY_FAILOVER_019", "internal error", 500))

    @staticmethod
    def _body(route: Route, event: dict[str, Any], limit: int) -> Any:
        if route.body is None:
            return None
        raw = event.get("body")
        if raw is None or raw == "":
            raise InvalidInput("request body is required", details=[{"field": "body", "message": "required"}])
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        if event.get("isBase64Encoded"):
            try:
                data = base64.b64decode(data, validate=True)
            except ValueError as exc:
                raise InvalidInput("body is not valid base64") from exc
        if len(data) > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        from .bodies import validate_body

        return validate_body(route.body, data)

    @staticmethod
    def _query(route: Route, event: dict[str, Any]) -> Any:
        if route.query is None:
            return None
        params = event.get("queryStringParameters") or {}
        return {name: spec.parse(name, params.get(name)) for name, spec in route.query.items()}
