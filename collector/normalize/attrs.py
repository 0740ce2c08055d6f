"""Reading attribute values defensively: coercion, JSON, and flattened ``prefix.{i}.rest`` keys.

Attribute values arrive as whatever the sender put there (str, bool, int, float, bytes, list,
dict). Every helper here returns None (or :data:`INVALID`) on a value of the wrong shape instead
of raising, so the normalizers can stay free of try/except.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

INVALID: Any = object()
"""Returned by :func:`parse_json` for a string that is not valid JSON."""


def as_str(value: Any) -> str | None:
    """Text form of a scalar; JSON for lists/dicts; None for None or an empty string."""
    if isinstance(value, str):
        return value or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    return dumps(value)


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None  # a bool is an int subclass, but True tokens means nothing
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdecimal():
            return int(text)
        number = as_float(text)
        return int(number) if number is not None and number.is_integer() else None
    return None


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_json(value: Any) -> Any:
    """Decode a JSON string (or bytes); structured values pass through unchanged.

    Returns :data:`INVALID` when a string is not valid JSON, None for None.
    """
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return INVALID
    return value


def json_object(value: Any) -> dict[str, Any] | None:
    """A JSON object (from a string or a structured value), or None for anything else."""
    parsed = parse_json(value)
    return parsed if isinstance(parsed, dict) else None


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``; unknown objects become their ``str``."""
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses e.g. integers over 64 bits; the stdlib encoder does not.
        return json.dumps(value, default=str, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def str_list(value: Any) -> list[str] | None:
    """A list of strings from a string, a list, or a JSON array string."""
    if isinstance(value, str):
        parsed = parse_json(value) if value.startswith("[") else INVALID
        value = parsed if isinstance(parsed, list) else [value]
    if isinstance(value, list | tuple):
        items = [item for item in (as_str(v) for v in value) if item is not None]
        return items or None
    return None


def group_indexed(
    attributes: Mapping[str, Any], roots: tuple[str, ...]
) -> dict[str, dict[int, dict[str, Any]]]:
    """Group flattened keys ``{root}{i}.{rest}`` in one pass: ``{root: {i: {rest: value}}}``.

    Each root must end with ``"."``. Keys whose index is not a number (``gen_ai.prompt.name``)
    are skipped, so one root can share a namespace with ordinary attributes.
    """
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attributes.items():
        if not key.startswith(roots):
            continue
        root = next(r for r in roots if key.startswith(r))
        index, _, rest = key[len(root) :].partition(".")
        if rest and index.isdecimal():
            groups.setdefault(root, {}).setdefault(int(index), {})[rest] = value
    return groups


def in_order(indexed: Mapping[int, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The grouped entries sorted by their index (gaps are simply skipped)."""
    if not indexed:
        return []
    return [indexed[i] for i in sorted(indexed)]


def prefixed(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{rest: value}`` for every key ``{prefix}{rest}``."""
    size = len(prefix)
    return {key[size:]: value for key, value in attributes.items() if key.startswith(prefix)}


def first(attributes: Mapping[str, Any], keys: Iterable[str]) -> Any:
    """The value of the first key present with a non-None, non-empty value."""
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None
