"""A typed client of the control plane's HTTP API, on the standard library alone.

Answers are the JSON the API sends, typed by `models` (TypedDicts generated from the OpenAPI
document, keys as the API spells them). Every call has a timeout; an error answer raises `ApiError` carrying the envelope's code, message
and HTTP status (`NotFound`, `Conflict`, ... for the common ones); a network failure raises
`Unreachable`. `route()` speaks ETags: give it the tag you hold and a 304 comes back as `None`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Unpack, cast

from .models import (
    AutoFailover,
    CheckOut,
    CompleteRequest,
    CompletionStatus,
    ConfigFields,
    ConfigOut,
    ConfigRequest,
    ConfigVersionOut,
    DecisionOut,
    DrillRequest,
    DryRunOut,
    EvaluateRequest,
    EventOut,
    EventType,
    ExecuteRequest,
    HealthMetrics,
    HealthReport,
    HealthStatus,
    InstanceData,
    InstanceOut,
    InstancePatch,
    MaintenanceRequest,
    ProxySummaryOut,
    RedundancyOut,
    RegisterRequest,
    RemovedOut,
    SafetyOut,
    SafetyUpdate,
)
from .routes import Route


class ApiError(Exception):
    """An answer in the error envelope: `code` (PROXY_FAILOVER_0NN), `message`, `status`, `details`."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or []


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Unavailable(ApiError):
    """503: the database refused; `retry_after` seconds is the server's advice."""

    retry_after: float | None = None


class Unreachable(Exception):
    """The API could not be reached (refused, timed out, reset)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


class Client:
    """`Client("https://abc.execute-api.eu-west-1.amazonaws.com", token)`; `token` may be a callable
    that returns a fresh one (a client-credentials token that expires)."""

    def __init__(self, base_url: str, token: str | Callable[[], str], *, timeout: float = 5.0) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"the API's URL must be http(s)://...: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    # ---- the data plane -------------------------------------------------------------------------

    def route(self, proxy_id: str, *, etag: str | None = None) -> Route | None:
        """The routing answer (17); None when `etag` still names it (304)."""
        status, body, headers = self._call("GET", f"/proxy/{_seg(proxy_id)}/route", etag=etag)
        if status == 304:
            return None
        return Route.from_json(body["data"], etag=headers.get("etag"))

    # ---- health -------------------------------------------------------------------------------

    def report_health(
        self,
        instance_id: str,
        status: HealthStatus,
        *,
        metrics: HealthMetrics | None = None,
        idempotency_key: str | None = None,
    ) -> InstanceOut:
        """One check result of an instance (5); the instance after it."""
        body: HealthReport = {"healthStatus": status}
        if metrics:
            body["metrics"] = metrics
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return cast(
            InstanceOut,
            self._data("PUT", f"/proxy/instances/{_seg(instance_id)}/health", body, headers=headers),
        )

    def recent_checks(self, instance_id: str, *, limit: int = 50) -> list[CheckOut]:
        """The instance's latest probe and report results, newest first (23)."""
        return cast(
            list[CheckOut],
            self._data("GET", f"/proxy/instances/{_seg(instance_id)}/checks", query={"limit": limit}),
        )

    # ---- proxies, instances, config -------------------------------------------------------------

    def put_config(self, proxy_id: str, **fields: Unpack[ConfigFields]) -> ConfigOut:
        """Set the fields given (1): `put_config("edge-1", unhealthyThreshold=2)`; the rest keep theirs."""
        body: ConfigRequest = {"proxyId": proxy_id, "config": fields}
        return cast(ConfigOut, self._data("POST", "/proxy/failover/config", body))

    def config(self, proxy_id: str) -> ConfigOut:
        return cast(ConfigOut, self._data("GET", f"/proxy/failover/config/{_seg(proxy_id)}"))

    def config_history(self, proxy_id: str) -> Iterator[ConfigVersionOut]:
        """Every version of the proxy's configuration, newest first (18)."""
        yield from self._pages(f"/proxy/failover/config/{_seg(proxy_id)}/history", {"limit": 500})

    def register_instance(self, proxy_id: str, **data: Unpack[InstanceData]) -> InstanceOut:
        """`register_instance("edge-1", instanceName="a", priority=0, endpoint="10.0.3.7:8443")` (3)."""
        body: RegisterRequest = {"proxyId": proxy_id, "instanceData": data}
        return cast(InstanceOut, self._data("POST", "/proxy/instances", body))

    def update_instance(self, instance_id: str, **patch: Unpack[InstancePatch]) -> InstanceOut:
        """Only the fields given change; None clears `healthCheckUrl` (13)."""
        return cast(InstanceOut, self._data("PATCH", f"/proxy/instances/{_seg(instance_id)}", patch))

    def deregister_instance(self, instance_id: str, *, force: bool = False) -> InstanceOut:
        """Remove an instance (14); the active one only with `force` (the proxy moves first)."""
        query = {"force": "true"} if force else None
        return cast(InstanceOut, self._data("DELETE", f"/proxy/instances/{_seg(instance_id)}", query=query))

    def instances(self, proxy_id: str) -> Iterator[InstanceOut]:
        """The proxy's instances by priority, then weight (4), paged for you."""
        yield from self._pages(f"/proxy/{_seg(proxy_id)}/instances", {"limit": 500})

    def proxies(
        self, *, degraded: bool | None = None, prefix: str | None = None, owner: str | None = None
    ) -> Iterator[ProxySummaryOut]:
        """Every proxy you may see, in id order (20), paged for you; `owner` is for admins."""
        query: dict[str, Any] = {"limit": 500, "q": prefix, "owner": owner}
        if degraded is not None:
            query["degraded"] = "true" if degraded else "false"
        yield from self._pages("/proxies", query)

    def decommission(self, proxy_id: str, *, force: bool = False) -> RemovedOut:
        """Remove the proxy (22); one that still has instances only with `force`."""
        query = {"force": "true"} if force else None
        return cast(RemovedOut, self._data("DELETE", f"/proxy/{_seg(proxy_id)}", query=query))

    def redundancy(self, proxy_id: str) -> RedundancyOut:
        return cast(RedundancyOut, self._data("GET", f"/proxy/{_seg(proxy_id)}/redundancy"))

    def start_maintenance(
        self, instance_id: str, seconds: int, reason: str, *, force: bool = False
    ) -> InstanceOut:
        """Take an instance out for `seconds` (15); the proxy first moves off it if it is active."""
        body: MaintenanceRequest = {"durationSeconds": seconds, "reason": reason, "force": force}
        return cast(InstanceOut, self._data("PUT", f"/proxy/instances/{_seg(instance_id)}/maintenance", body))

    def end_maintenance(self, instance_id: str) -> InstanceOut:
        return cast(InstanceOut, self._data("DELETE", f"/proxy/instances/{_seg(instance_id)}/maintenance"))

    # ---- failover ---------------------------------------------------------------------------------

    def evaluate(self, proxy_id: str) -> DecisionOut:
        """Whether the proxy should fail over now, and to where (6); changes nothing."""
        body: EvaluateRequest = {"proxyId": proxy_id}
        return cast(DecisionOut, self._data("POST", "/proxy/failover/evaluate", body))

    def execute_failover(
        self, proxy_id: str, source_id: str, target_id: str, reason: str, *, force: bool = False
    ) -> EventOut:
        """An operator's switch (7, admin): the event, in progress until `complete_event`."""
        return cast(
            EventOut, self._execute(proxy_id, source_id, target_id, reason, force=force, dry_run=False)
        )

    def dry_run_failover(self, proxy_id: str, source_id: str, target_id: str, reason: str) -> DryRunOut:
        """What `execute_failover` would do, under the same checks; nothing changes (7, admin)."""
        return cast(
            DryRunOut, self._execute(proxy_id, source_id, target_id, reason, force=False, dry_run=True)
        )

    def complete_event(
        self,
        event_id: str,
        status: CompletionStatus,
        *,
        error: str | None = None,
        duration_ms: int | None = None,
    ) -> EventOut:
        """Close an operator's event (8, admin)."""
        body: CompleteRequest = {"status": status}
        if error is not None:
            body["errorMessage"] = error
        if duration_ms is not None:
            body["durationMs"] = duration_ms
        return cast(EventOut, self._data("PUT", f"/proxy/failover/events/{_seg(event_id)}/complete", body))

    def start_drill(
        self, proxy_id: str, seconds: int, reason: str, *, target_id: str | None = None
    ) -> EventOut:
        """A real switch for `seconds`, marked as a drill, switched back when its time is up (19, admin)."""
        body: DrillRequest = {"proxyId": proxy_id, "durationSeconds": seconds, "reason": reason}
        if target_id is not None:
            body["targetInstanceId"] = target_id
        return cast(EventOut, self._data("POST", "/proxy/failover/drill", body))

    def events(
        self,
        proxy_id: str | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
        type: EventType | None = None,
    ) -> Iterator[EventOut]:
        """A proxy's ledger (11), or with None the fleet's (21, `since`/`until`/`type`), newest first."""
        if proxy_id is not None:
            yield from self._pages(f"/proxy/{_seg(proxy_id)}/failover/events", {"limit": 500})
            return
        yield from self._pages(
            "/proxy/failover/events", {"limit": 500, "since": since, "until": until, "type": type}
        )

    def safety(self) -> SafetyOut:
        """The emergency brake and the vantages (24)."""
        return cast(SafetyOut, self._data("GET", "/fleet/safety"))

    def set_auto_failover(self, state: AutoFailover, reason: str) -> SafetyOut:
        """Hold or release every automatic switch (25, admin)."""
        body: SafetyUpdate = {"autoFailover": state, "reason": reason}
        return cast(SafetyOut, self._data("PUT", "/fleet/safety", body))

    def _execute(
        self, proxy_id: str, source_id: str, target_id: str, reason: str, *, force: bool, dry_run: bool
    ) -> Any:
        body: ExecuteRequest = {
            "proxyId": proxy_id,
            "sourceInstanceId": source_id,
            "targetInstanceId": target_id,
            "reason": reason,
            "force": force,
            "dryRun": dry_run,
        }
        return self._data("POST", "/proxy/failover/execute", body)

    # ---- the wire -------------------------------------------------------------------------------

    def _pages(self, path: str, query: dict[str, Any]) -> Iterator[Any]:
        cursor = None
        while True:
            _, body, _ = self._call("GET", path, query={**query, **({"cursor": cursor} if cursor else {})})
            yield from body["data"]
            cursor = body.get("nextCursor")
            if not cursor:
                return

    def _data(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        _, answer, _ = self._call(method, path, body, query=query, headers=headers)
        return answer["data"]

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s): __init__)
        token = self._token() if callable(self._token) else self._token
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if etag:
            request.add_header("If-None-Match", etag)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only)
                raw = response.read()
                return response.status, json.loads(raw) if raw else None, _lower(response.headers)
        except urllib.error.HTTPError as error:
            raw = error.read()
            if error.code == 304:
                return 304, None, _lower(error.headers)
            raise _error(error.code, raw, _lower(error.headers)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as failure:
            raise Unreachable(f"{method} {url}: {failure}") from failure


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _seg(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _error(status: int, raw: bytes, headers: dict[str, str]) -> ApiError:
    try:
        envelope = json.loads(raw)["error"]
        code, message, details = envelope["code"], envelope["message"], envelope.get("details")
    except (ValueError, KeyError, TypeError):
        # API Gateway's authorizer answers a bad token with {"message": "Unauthorized"}
        code, message, details = f"HTTP_{status}", raw.decode(errors="replace")[:500], None
    kind = _BY_STATUS.get(status, ApiError)
    found = kind(status, code, message, details)
    if isinstance(found, Unavailable) and headers.get("retry-after", "").isdigit():
        found.retry_after = float(headers["retry-after"])
    return found
