"""The client package's types, generated from the OpenAPI document: a `TypedDict` per object schema
(its keys as the API spells them) and a `Literal` per enum, so a program using the client is checked
by mypy against the same declarations the API is documented by. `make openapi` writes
client/proxy_failover_client/models.py; `make lint` fails when it is stale.

Why TypedDicts over generated classes: answers stay the JSON the API sent (nothing to convert, nothing
that breaks when the API adds a field), the package keeps no dependency, and a type checker still knows
every field and every enum's values."""

from __future__ import annotations

import keyword
from typing import Any

from contract.openapi import build, load_routes

HEADER = '''"""The API's answers and request bodies as types: generated from the OpenAPI document by
`python -m contract.openapi --write` (`make openapi`); do not edit by hand."""

from __future__ import annotations

from typing import {imports}

'''
# The envelopes ({data, message, nextCursor} and {error}) the client unwraps or raises.
ENVELOPE_SUFFIXES = ("Answer", "Page", "List")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"].rsplit("/", 1)[1])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            parts = list(dict.fromkeys(_type(s) for s in schema[union]))
            return " | ".join(parts)
    kind = schema.get("type")
    if kind == "null":
        return "None"
    if kind == "string":
        return "str"
    if kind == "integer":
        return "int"
    if kind == "number":
        return "float"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    return "dict[str, Any]"


def _typed_dict(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    fields = []
    for key, prop in schema.get("properties", {}).items():
        kind = _type(prop)
        fields.append((key, kind if key in required else f"NotRequired[{kind}]"))
    doc = (schema.get("description") or "").strip().replace('"""', "'''")
    if any(keyword.iskeyword(k) or not k.isidentifier() for k, _ in fields):
        body = ", ".join(f'"{k}": {t}' for k, t in fields)
        return f'{name} = TypedDict("{name}", {{{body}}})\n'
    lines = [f"class {name}(TypedDict):"]
    if doc:
        lines.append(f'    """{doc}"""' if "\n" not in doc else f'    """{doc}\n    """')
        lines.append("")
    lines += [f"    {k}: {t}" for k, t in fields] or ["    pass"]
    return "\n".join(lines) + "\n"


def render_models() -> str:
    schemas = build(load_routes())["components"]["schemas"]
    enums = [
        f"{name} = Literal[{', '.join(repr(v) for v in s['enum'])}]\n"
        for name, s in schemas.items()
        if "enum" in s
    ]
    objects = [
        _typed_dict(name, s)
        for name, s in schemas.items()
        if "enum" not in s and not name.endswith(ENVELOPE_SUFFIXES) and s.get("type") == "object"
    ]
    names = sorted(
        name
        for name, s in schemas.items()
        if not name.endswith(ENVELOPE_SUFFIXES) and ("enum" in s or s.get("type") == "object")
    )
    exported = "__all__ = [" + ", ".join(f'"{n}"' for n in names) + "]\n"
    body = "".join(enums) + "\n\n" + "\n\n".join(objects) + "\n\n" + exported
    imports = ", ".join(
        n
        for n in ("Any", "Literal", "NotRequired", "TypedDict")
        if f"{n}[" in body or f"{n})" in body or f"{n}(" in body
    )
    return _formatted(HEADER.format(imports=imports) + body)


def _formatted(source: str) -> str:
    """As `ruff format` leaves it (make lint checks both the formatting and that this is fresh)."""
    import subprocess
    import sys
    from pathlib import Path

    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(  # noqa: S603 - the environment's own ruff
        [str(ruff), "format", "--stdin-filename", "models.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
