"""A minimal, deterministic instance of a JSON schema.

Used for default structured-output replies and default tool-call arguments, so that the real
`openai` client's `parse()` helpers and pydantic models accept what the fake sends. Covers the
subset OpenAI's strict mode allows: objects, arrays, scalars, `enum`, `const`, `anyOf`, local `$ref`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sample_instance"]

_MAX_DEPTH = 8
_STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "email": "fake@example.com",
}
_SCALARS: dict[str, Any] = {"integer": 0, "number": 0.0, "boolean": False, "null": None}


def sample_instance(schema: dict[str, Any] | None) -> Any:
    """Return the simplest value valid against `schema` (an empty object when there is no schema)."""
    if not schema:
        return {}
    return _sample(schema, schema, 0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _sample(schema: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _sample(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _sample(schema[key][0], root, depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _sample(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        item = schema.get("items") or {}
        return [_sample(item, root, depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return _STRING_FORMATS.get(schema.get("format", ""), "fake")
    if kind in ("integer", "number"):
        return schema.get("minimum", _SCALARS[kind])
    return _SCALARS.get(kind)
