"""Generates what the API's declarations imply: the OpenAPI 3.1 document (from the routes of every
function in `functions/`), the request-body schemas the layer validates with
(`shared/proxy_failover/api/body_schemas.json`), and the README's table of error codes.

`python -m contract.openapi --write docs/openapi.json` (`make openapi`) writes them all, and the copy
of the document the openapi function serves; `--check` (`make lint`) fails when any is stale.
A build-time tool: it imports pydantic, which the Lambda layer does not ship.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from proxy_failover.api.bodies import COMPILED
from proxy_failover.api.router import Api, QueryCursor, Route
from proxy_failover.ids import PROXY_ID_PATTERN
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import request_bodies, response_bodies
from .errors import catalogue

ROOT = Path(__file__).resolve().parents[1]
SERVED_COPY = ROOT / "functions" / "openapi" / "openapi.json"
README = ROOT / "README.md"
CLIENT_MODELS = ROOT / "client" / "proxy_failover_client" / "models.py"
TABLE_START, TABLE_END = "<!-- error-table:start -->", "<!-- error-table:end -->"
REASONS = {
    400: "Invalid input",
    401: "Missing, malformed, expired or badly signed token",
    403: "Not allowed (admin only)",
    404: "Not found (or another tenant's)",
    405: "Method not allowed",
    409: "Conflict with the current state",
    304: "Not modified",
    413: "Body too large",
    503: "Database unavailable: retry after Retry-After seconds",
}


def load_routes(functions_dir: Path = ROOT / "functions") -> list[Route]:
    routes: list[Route] = []
    for app in sorted(functions_dir.glob("*/app.py")):
        spec = importlib.util.spec_from_file_location(f"functions_{app.parent.name}_app", app)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        api = getattr(module, "api", None)
        if isinstance(api, Api):
            routes.extend(api.routes)
    return sorted((r for r in routes if r.listed), key=lambda r: (r.path, r.method))


def _models_of(name: str | None) -> tuple[list[type[BaseModel]], bool]:
    """The response's models ("A|B": one of them) and whether `data` is a list of them ("A[]")."""
    if name is None:
        return [], False
    many = name.endswith("[]")
    models = [getattr(response_bodies, part) for part in name.removesuffix("[]").split("|")]
    assert all(isinstance(m, type) and issubclass(m, BaseModel) for m in models), name
    return models, many


def _error_schemas() -> dict[str, Any]:
    """The error envelope, its body, a validation detail and the codes, each named once."""
    return {
        # Not "Error": a generated client names a local variable after the model, and the envelope's one
        # property is `error` (openapi-python-client then assigns the model to its own field).
        "ErrorAnswer": {
            "type": "object",
            "description": "Every error: `{error: {code, message, statusCode, details?}}`",
            "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
        },
        "ErrorBody": {
            "type": "object",
            "required": ["code", "message", "statusCode"],
            "properties": {
                "code": {"$ref": "#/components/schemas/ErrorCode"},
                "message": {"type": "string"},
                "statusCode": {"type": "integer"},
                "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}},
            },
        },
        "ErrorDetail": {
            "type": "object",
            "description": "One invalid field of a 400: where, what is wrong, and the kind of check",
            "required": ["field", "message", "type"],
            "properties": {
                "field": {"type": "string"},
                "message": {"type": "string"},
                "type": {"type": "string"},
            },
        },
        "ErrorCode": {
            "type": "string",
            "enum": [entry.code for entry in catalogue()],
            "description": "\n".join(f"- `{e.code}` ({e.status}): {e.meaning}" for e in catalogue()),
        },
        # The two statuses a completion may set (an event's status is EventStatus).
        "CompletionStatus": {"type": "string", "enum": ["completed", "failed"], "title": "CompletionStatus"},
    }


# The code a route answers for a status, when it is not the only code of that status: by operation,
# else by what the path names (an instance, an event, else a proxy).
_CODE_FOR = {
    (404, "get_config"): "PROXY_FAILOVER_003",
    (404, "get_redundancy"): "PROXY_FAILOVER_016",
    (404, "update_redundancy"): "PROXY_FAILOVER_016",
    (409, "register_instance"): "PROXY_FAILOVER_005",
    (409, "update_instance"): "PROXY_FAILOVER_005",
    (409, "execute_failover"): "PROXY_FAILOVER_010",
    (409, "update_redundancy"): "PROXY_FAILOVER_011",
    (409, "complete_event"): "PROXY_FAILOVER_014",
    (409, "deregister_instance"): "PROXY_FAILOVER_029",
    (409, "start_maintenance"): "PROXY_FAILOVER_030",
    (409, "start_drill"): "PROXY_FAILOVER_031",
}


def _example_code(status: int, route: Route) -> str:
    found = _CODE_FOR.get((status, route.func.__name__))
    if found:
        return found
    if status == 404:
        if "{instanceId}" in route.path:
            return "PROXY_FAILOVER_007"
        if "{eventId}" in route.path:
            return "PROXY_FAILOVER_013"
        return "PROXY_FAILOVER_004"
    codes = [e.code for e in catalogue() if e.status == status]
    preferred = {400: "PROXY_FAILOVER_001", 401: "PROXY_FAILOVER_020", 403: "PROXY_FAILOVER_021"}
    return preferred.get(status) or codes[0]


def _error_example(status: int, route: Route) -> dict[str, Any]:
    code = _example_code(status, route)
    meaning = next(e.meaning for e in catalogue() if e.code == code)
    body: dict[str, Any] = {"code": code, "message": meaning, "statusCode": status}
    if code == "PROXY_FAILOVER_001":
        body["details"] = [{"field": "proxyId", "message": "Field required", "type": "missing"}]
    return {"error": body}


def _envelope_name(models: list[type[BaseModel]], many: bool, paged: bool) -> str:
    """A success envelope's component name: InstanceAnswer, InstanceList, InstancePage, ..."""
    base = "Or".join(m.__name__.removesuffix("Out") for m in models)
    return base + ("Page" if paged else "List" if many else "Answer")


def _named_enums(document: dict[str, Any]) -> dict[Any, str]:
    """Each named string enum of the document, by its set of values."""
    return {
        frozenset(schema["enum"]): name
        for name, schema in document["components"]["schemas"].items()
        if schema.get("type") == "string" and "enum" in schema and name != "ErrorCode"
    }


def _refer_to_named_enums(node: Any, named: dict[Any, str], inside: str = "") -> Any:
    """Replaces every inline string enum whose values are a named enum's by a reference to it: the
    request bodies' Literal types and the responses' enums are then one type in a generated client."""
    if isinstance(node, dict):
        values = node.get("enum")
        if node.get("type") == "string" and isinstance(values, list) and frozenset(values) in named:
            name = named[frozenset(values)]
            if name != inside:
                ref: dict[str, Any] = {"$ref": f"#/components/schemas/{name}"}
                for keep in ("description", "default"):
                    if keep in node:
                        ref[keep] = node[keep]
                return ref
        return {k: _refer_to_named_enums(v, named, inside) for k, v in node.items()}
    if isinstance(node, list):
        return [_refer_to_named_enums(v, named, inside) for v in node]
    return node


def _parameter(name: str) -> dict[str, Any]:
    if name == "proxyId":
        schema: dict[str, Any] = {"type": "string", "pattern": PROXY_ID_PATTERN}
    else:
        schema = {"type": "string", "format": "uuid"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def build(routes: list[Route]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for route in routes:
        assert route.body is None or route.body in request_bodies.BODIES, route.body
        found, _ = _models_of(route.response)
        models.extend((model, "serialization") for model in found)
    _, definitions = models_json_schema(
        list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}", by_alias=True
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas.update(request_bodies.json_schemas("#/components/schemas/{model}"))
    schemas.update(_error_schemas())
    paths: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.func.__name__,
            "summary": route.summary,
            "tags": ["admin" if route.admin else ("meta" if route.public else "proxy")],
        }
        if route.func.__doc__:
            operation["description"] = route.func.__doc__.strip()
        params = [_parameter(n) for n in route.pattern.groupindex]
        paged = False
        for name, spec in (route.query or {}).items():
            paged = paged or isinstance(spec, QueryCursor)
            schema = spec.schema()
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": spec.description,
                    "schema": schema,
                }
            )
        for name, meaning in (route.headers or {}).items():
            header_schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 128}
            params.append(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": meaning,
                    "schema": header_schema,
                }
            )
        if route.tagged:
            params.append(
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "The ETag of an answer already held: 304 while it is still the answer",
                    "schema": {"type": "string"},
                }
            )
        if params:
            operation["parameters"] = params
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.body}"}}},
            }
        found, many = _models_of(route.response)
        if found:
            refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in found]
            ref = refs[0] if len(refs) == 1 else {"oneOf": refs}
            data = {"type": "array", "items": ref} if many else ref
            properties: dict[str, Any] = {"data": data, "message": {"type": "string"}}
            envelope = {"type": "object", "required": ["data"], "properties": properties}
            if paged:
                envelope["required"] = ["data", "nextCursor"]
                properties["nextCursor"] = {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page",
                }
            name = _envelope_name(found, many, paged)
            assert schemas.get(name, envelope) == envelope, name
            schemas[name] = envelope
            success: dict[str, Any] = {"$ref": f"#/components/schemas/{name}"}
        elif route.media_type != "application/json":
            success = {"type": "string"}
        else:
            success = {"type": "object"}
        responses: dict[str, Any] = {
            str(route.status): {
                "description": "Success",
                "content": {route.media_type: {"schema": success}},
            }
        }
        if route.tagged:
            etag = {"ETag": {"description": "Changes whenever the answer does", "schema": {"type": "string"}}}
            responses[str(route.status)]["headers"] = etag
            responses["304"] = {
                "description": "Not modified: the If-None-Match tag is still the answer's",
                "headers": etag,
            }
        for status in sorted({*route.errors, *(() if route.public else (401,))}):
            response: dict[str, Any] = {
                "description": REASONS.get(status, "Error"),
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorAnswer"},
                        "example": _error_example(status, route),
                    }
                },
            }
            if status == 503:
                response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
            responses[str(status)] = response
        operation["responses"] = responses
        operation["security"] = [] if route.public else [{"bearerAuth": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Proxy failover control plane",
            "version": "1.0.0",
            "description": "Failover settings, instances, health, failover and redundancy of streaming proxies. "
            "Errors use the envelope `{error: {code, message, statusCode, details?}}`; codes:\n\n"
            + "\n".join(f"- `{code}` ({status}): {meaning}" for code, status, meaning in catalogue()),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    named = _named_enums(document)
    document["paths"] = _refer_to_named_enums(document["paths"], named)
    document["components"]["schemas"] = {
        name: _refer_to_named_enums(schema, named, inside=name)
        for name, schema in document["components"]["schemas"].items()
    }
    return document


def render() -> str:
    return json.dumps(build(load_routes()), indent=2, sort_keys=False) + "\n"


def error_table() -> str:
    rows = [f"| `{e.code}` | {e.status} | {e.meaning} |" for e in catalogue()]
    return "\n".join(["| code | status | meaning |", "|---|---|---|", *rows])


def readme_with_error_table(readme: str) -> str:
    """The README with the table between its markers regenerated from the errors' classes."""
    head, start, rest = readme.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the {TABLE_START} ... {TABLE_END} markers")
    return f"{head}{TABLE_START}\n{error_table()}\n{TABLE_END}{tail}"


def render_models() -> str:
    from contract.client_models import render_models as models

    return models()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args(argv)
    document, compiled = render(), request_bodies.compile_schemas()
    wanted = {
        args.write or args.check: document,
        SERVED_COPY: document,
        COMPILED: compiled,
        README: readme_with_error_table(README.read_text(encoding="utf-8")),
        CLIENT_MODELS: render_models(),
    }
    if args.write:
        for path, text in wanted.items():
            path.write_text(text, encoding="utf-8")
        return 0
    stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if stale:
        print(f"stale generated files: {', '.join(stale)}; run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
