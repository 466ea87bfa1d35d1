"""API Gateway (HTTP API, payload 2.0) emulation, driven by template.yaml.

Every `AWS::Serverless::Function` with an `HttpApi` event becomes a route to the handler the template
names, so adding a function to the template adds it here with no other change. As the gateway's JWT
authorizer would, it verifies the bearer token and puts the claims in the request context; a request
it cannot verify goes on without claims and the handler answers 401 in the contract's envelope.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from proxy_failover.api.auth import verify_token
from proxy_failover.errors import Unauthenticated
from proxy_failover.settings import get_settings

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM template, keeping CloudFormation intrinsics (!Ref, !Sub, ...) as plain values."""
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node)}
        return {suffix: loader.construct_mapping(node)}

    Loader.add_multi_constructor("!", intrinsic)
    with path.open(encoding="utf-8") as stream:
        document: dict[str, Any] = yaml.load(stream, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return document


@dataclass
class Route:
    method: str
    path: str
    function: str
    handler: Handler
    authorized: bool
    pattern: re.Pattern[str] = field(init=False)
    specificity: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        if self.path == "$default":  # API Gateway's catch-all: whatever no other route takes
            self.pattern = re.compile(r"^/.*", re.DOTALL)
            self.specificity = (1, 0)  # after every other route
            return
        parts = []
        for segment in self.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append(f"(?P<{segment[1:-2]}>.+)")
            elif segment.startswith("{"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        self.pattern = re.compile("^/" + "/".join(parts) + "$")
        # API Gateway prefers the most specific route: more literal segments first.
        literals = sum(1 for s in self.path.split("/") if s and not s.startswith("{"))
        self.specificity = (-literals, self.path.count("{"))

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


def _load_handler(root: Path, code_uri: str, handler: str) -> Handler:
    module_name, _, attribute = handler.rpartition(".")
    source = root / code_uri / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{Path(code_uri).name}_{module_name}", source)
    assert spec and spec.loader, source
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: Handler = getattr(module, attribute)
    return loaded


def routes_from_template(root: Path, template: dict[str, Any]) -> list[Route]:
    routes = []
    default_auth = bool(
        (template["Resources"].get("HttpApi", {}).get("Properties", {}).get("Auth") or {}).get(
            "DefaultAuthorizer"
        )
    )
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            spec = event["Properties"]
            authorizer = (spec.get("Auth") or {}).get("Authorizer")
            routes.append(
                Route(
                    method=spec["Method"].upper(),
                    path=spec["Path"],
                    function=name,
                    handler=_load_handler(root, props["CodeUri"], props["Handler"]),
                    authorized=default_auth and authorizer != "NONE",
                )
            )
    return sorted(routes, key=lambda r: r.specificity)


class VerifiedTokens:
    """The gateway's verification of a token, kept until the token expires: deployed, API Gateway
    verifies a token once in a while too (it caches its authorizer's keys), so that reads here cost
    what they cost on Lambda rather than an HMAC and a JSON parse each. Bounded (least recently used
    go first); a token that failed verification is never kept."""

    def __init__(self, size: int = 1024) -> None:
        import threading
        from collections import OrderedDict

        self._size = size
        self._kept: OrderedDict[tuple[int, str], tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.verified = 0  # verifications made (the cache's misses)

    def claims(self, token: str) -> dict[str, Any] | None:
        settings = get_settings()
        key = (id(settings), token)
        now = time.time()
        with self._lock:
            found = self._kept.get(key)
            if found is not None and now < found[0]:
                self._kept.move_to_end(key)
                return dict(found[1])  # a copy: no request sees what another did to its claims
        try:
            claims = verify_token(token, settings)
        except Unauthenticated:
            return None
        self.verified += 1
        rendered = {name: _as_gateway_renders(value) for name, value in claims.items()}
        # valid until its exp (the same 5 s leeway the verification allows)
        until = float(claims["exp"]) + 5
        with self._lock:
            self._kept[key] = (until, rendered)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return dict(rendered)


_VERIFIED = VerifiedTokens()


class Gateway:
    """Turns HTTP requests into payload 2.0 events and handler responses back into HTTP."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found and route.method in {method, "ANY"}:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def event(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        raw_path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        cookies = lowered.pop("cookie", None)
        query_params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if route.authorized:
            claims = self._claims(lowered)
            if claims is not None:
                context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": lowered,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies.split("; ")
        if query_params:
            event["queryStringParameters"] = query_params
        if params:
            event["pathParameters"] = params
        if body:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        return event

    @staticmethod
    def _claims(headers: dict[str, str]) -> dict[str, Any] | None:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return _VERIFIED.claims(token.strip())

    def invoke(
        self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, str | None]:
        """(status, headers, body, function name) for one HTTP request."""
        found = self.match(method, raw_path)
        if found is None:
            return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}', None
        route, params = found
        event = self.event(route, params, method, raw_path, query, headers, body)
        try:
            response = route.handler(event, LambdaContext(route.function, 10.0))
        except Exception:
            # What API Gateway answers when the function itself fails.
            failed = b'{"message":"Internal Server Error"}'
            return 502, {"Content-Type": "application/json"}, failed, route.function
        return (*_to_http(response), route.function)


def _as_gateway_renders(value: Any) -> Any:
    """API Gateway's JWT authorizer passes claims on as strings, arrays as "[a b c]"."""
    if isinstance(value, list | tuple):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _to_http(response: Any) -> tuple[int, dict[str, str], bytes]:
    """HTTP API's interpretation of a handler's return value (payload 2.0)."""
    if not isinstance(response, dict) or "statusCode" not in response:
        return 200, {"Content-Type": "application/json"}, json.dumps(response).encode()
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    return int(response["statusCode"]), headers, data


class LambdaContext:
    """Enough of the Lambda context object for our handlers: a name and a deadline."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
