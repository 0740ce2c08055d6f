"""Reading attribute values defensively: coercion, JSON, and flattened ``prefix.{i}.rest`` keys.

Attribute values arrive as whatever the sender put there (str, bool, int, float, bytes, list,
dict). Every helper here returns None (or :data:`INVALID`) on a value of the wrong shape instead
of raising, so the normalizers can stay free of try/except.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

INVALID: Any = object()
"""Returned by :func:`parse_json` for a string that is not valid JSON."""

# Type tuples for isinstance: a literal ``list | tuple`` builds a union object on every call,
# which costs more than the check itself on this hot path.
SEQUENCE = (list, tuple)
NUMBER = (int, float)
TEXT = (str, bytes)
_SETS_AND_TUPLES = (set, frozenset, tuple)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def as_str(value: Any) -> str | None:
    """Text form of a scalar; JSON for lists/dicts; None for None or an empty string."""
    if isinstance(value, str):
        return value or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, NUMBER):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    return dumps(value)


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise.

    Only 64-bit integers: the store's integer columns hold nothing larger, and one span must not fail its batch.
    """
    if isinstance(value, bool):
        return None  # a bool is an int subclass, but True tokens means nothing
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        if text.isdecimal():
            number = int(text) if len(text) <= 19 else _out_of_range(text)
        else:
            parsed = as_float(text)
            number = int(parsed) if parsed is not None and parsed.is_integer() else None
    return number if number is not None and _INT64_MIN <= number <= _INT64_MAX else None


def _out_of_range(text: str) -> int | None:
    # int() of a very long digit string is slow (and limited to 4,300 digits): only go there when it could fit.
    return int(text) if len(text.lstrip("0")) <= 19 else None


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, NUMBER):
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
    if isinstance(value, TEXT):
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
    if isinstance(value, _SETS_AND_TUPLES):
        return list(value)
    return str(value)


def str_list(value: Any) -> list[str] | None:
    """A list of strings from a string, a list, or a JSON array string."""
    if isinstance(value, str):
        parsed = parse_json(value) if value.startswith("[") else INVALID
        value = parsed if isinstance(parsed, list) else [value]
    if isinstance(value, SEQUENCE):
        items = [item for item in (as_str(v) for v in value) if item is not None]
        return items or None
    return None


class KeyGrid:
    """The flattened keys ``{prefix}{i}.{suffix}`` of an indexed attribute family, built once.

    Conventions that flatten lists (``llm.input_messages.{i}.message.role``) are read by probing
    i = 0, 1, ... with precomputed keys: a dict lookup per field instead of parsing every key
    of every span. Emitters number entries contiguously from 0, so probing stops at the first
    index that has none of the row's keys. ``children`` name nested families, e.g. the tool
    calls ``{prefix}{i}.message.tool_calls.{j}.{suffix}`` of message i.

    Grids are shared by all collector threads: rows are built up front and never mutated, child
    grids are published with an atomic ``setdefault``; indexes past the prebuilt range get
    their keys built on the fly.
    """

    __slots__ = ("_child_grids", "_children", "_prefix", "_rows", "_suffixes")

    def __init__(
        self,
        prefix: str,
        suffixes: tuple[str, ...],
        children: Mapping[str, tuple[str, ...]] | None = None,
        *,
        prebuilt: int = 128,
    ) -> None:
        self._prefix = prefix
        self._suffixes = suffixes
        self._children = dict(children or {})
        self._rows = tuple(self._build(index) for index in range(prebuilt))
        self._child_grids: dict[tuple[int, str], KeyGrid] = {}

    def _build(self, index: int) -> tuple[str, ...]:
        return tuple(f"{self._prefix}{index}.{suffix}" for suffix in self._suffixes)

    def row(self, index: int) -> tuple[str, ...]:
        """The keys of entry ``index``, in ``suffixes`` order."""
        return self._rows[index] if index < len(self._rows) else self._build(index)

    def child(self, index: int, name: str) -> KeyGrid:
        """The nested grid ``{prefix}{index}.{name}.{j}.{suffix}`` declared in ``children``."""
        key = (index, name)
        grid = self._child_grids.get(key)
        if grid is None:
            grid = KeyGrid(f"{self._prefix}{index}.{name}.", self._children[name], prebuilt=8)
            if index < len(self._rows):  # cache within the prebuilt range only: bounded memory
                grid = self._child_grids.setdefault(key, grid)
        return grid


def probe(attributes: Mapping[str, Any], grid: KeyGrid) -> list[list[Any]]:
    """Values of each entry's row, for entries 0, 1, ... until one has none of its keys."""
    get = attributes.get
    entries = []
    for index in itertools.count():
        values = list(map(get, grid.row(index)))
        if values.count(None) == len(values):
            break
        entries.append(values)
    return entries


def prefixed(attributes: Mapping[str, Any], prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """For each prefix, ``{rest: value}`` of every key ``{prefix}{rest}``, in one pass."""
    found: list[dict[str, Any]] = [{} for _ in prefixes]
    for key, value in attributes.items():
        if key.startswith(prefixes):
            for position, prefix in enumerate(prefixes):
                if key.startswith(prefix):
                    found[position][key[len(prefix) :]] = value
                    break
    return found


def first(attributes: Mapping[str, Any], keys: Iterable[str]) -> Any:
    """The value of the first key present with a non-None, non-empty value."""
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None
