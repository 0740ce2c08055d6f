"""JSON values for the evaluators: loading text or structures, a canonical form, and where two values differ."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from replay.evaluators.extract import parse_json_text

__all__ = ["canonical_json", "first_difference", "load_json"]

_SHOWN = 80


def load_json(value: Any) -> Any:
    """A JSON value: text is parsed (a single code fence around it is allowed), structures are taken as they are.

    Raises ``ValueError`` saying why text is not JSON (``json``'s message: what it expected, at which line and
    column); numbers, booleans and None are JSON values already.
    """
    if isinstance(value, str):
        return parse_json_text(value)
    if isinstance(value, bytes):
        return parse_json_text(value.decode("utf-8", errors="replace"))
    return value


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)  # 1.0 and 1 are the same JSON number
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, integral floats as integers."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def first_difference(expected: Any, actual: Any, path: str = "$") -> tuple[str, str, str]:
    """Where two JSON values first differ, as ``(path, expected shown, actual shown)``; keys are visited sorted.

    Only meaningful for values whose :func:`canonical_json` differ; for equal values the root is returned.
    """
    expected, actual = _canonical(expected), _canonical(actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                return f"{path}.{key}", _show(expected[key]), "nothing (the key is missing)"
            if key not in expected:
                return f"{path}.{key}", "nothing (no such key)", _show(actual[key])
            if canonical_json(expected[key]) != canonical_json(actual[key]):
                return first_difference(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            if canonical_json(want) != canonical_json(got):
                return first_difference(want, got, f"{path}[{index}]")
        if len(expected) != len(actual):
            return path, f"{len(expected)} items", f"{len(actual)} items"
    return path, _show(expected), _show(actual)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
