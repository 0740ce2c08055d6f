"""Import and export of dataset examples as JSONL and CSV.

JSONL: one JSON object per line, ``{"input": {...}, "expected_output": …, "metadata": {...},
"source_span_id": "…", "source_trace_id": "…"}``; only ``input`` is required. Export writes the same keys plus
the example's ``id``; ``id``, ``created_at`` and ``updated_at`` are accepted on import and ignored (imported
examples get new ids). Blank lines are skipped.

CSV: a header row, then one example per row; every cell is text (use JSONL for typed values).

- ``expected_column`` (default ``expected_output`` when the header has it) is the expected output; an empty
  cell means none yet.
- ``metadata_columns`` go into ``metadata`` as text; a column named ``metadata`` holds a JSON object merged in.
- ``source_span_id`` / ``source_trace_id`` columns link the example to a span; an ``id`` column is ignored.
- ``input_columns`` (default: every other column) make ``input``; a column ``input.NAME`` gives key ``NAME``.

Export writes ``id``, one ``input.KEY`` column per input key (in order of first appearance; non-text values
as JSON), ``expected_output`` (text as-is, anything else as JSON), ``metadata`` (JSON), ``source_span_id``,
``source_trace_id``, so an exported CSV imports back with the default options.

Parsing is all-or-nothing: the first bad line raises :class:`~replay.errors.InvalidInput` naming the line
and the problem, before anything is stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from replay.datasets.models import MAX_EXAMPLES_PER_CHANGE, Example, ExampleInput
from replay.errors import InvalidInput

__all__ = ["FileFormat", "export_csv", "export_jsonl", "parse_csv", "parse_jsonl"]

FileFormat = Literal["jsonl", "csv"]
_IGNORED_KEYS = ("id", "created_at", "updated_at")
_LINK_COLUMNS = ("source_span_id", "source_trace_id")
_INPUT_PREFIX = "input."


def parse_jsonl(text: str, *, source: str = "the file") -> list[ExampleInput]:
    """The examples of a JSONL text; :class:`InvalidInput` naming ``source`` and the line of the first error."""
    examples: list[ExampleInput] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{source}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise InvalidInput(f"{source}, line {number}: expected a JSON object, found {type(item).__name__}")
        for key in _IGNORED_KEYS:
            item.pop(key, None)
        examples.append(_example(item, source, number))
        _check_count(examples, source)
    if not examples:
        raise InvalidInput(f"{source} holds no examples")
    return examples


def parse_csv(
    text: str,
    *,
    source: str = "the file",
    input_columns: Sequence[str] | None = None,
    expected_column: str | None = None,
    metadata_columns: Sequence[str] = (),
) -> list[ExampleInput]:
    """The examples of a CSV text (see the module docstring for the column mapping)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise InvalidInput(f"{source} has no header row")
        plan = _column_plan(header, source, input_columns, expected_column, metadata_columns)
        examples: list[ExampleInput] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InvalidInput(
                    f"{source}, line {reader.line_num}: expected {len(header)} cells as in the header, found {len(row)}"
                )
            examples.append(_example(_csv_item(row, plan, source, reader.line_num), source, reader.line_num))
            _check_count(examples, source)
    except csv.Error as exc:
        raise InvalidInput(f"{source}, line {reader.line_num}: not valid CSV ({exc})") from None
    if not examples:
        raise InvalidInput(f"{source} holds no examples")
    return examples


def export_jsonl(examples: list[Example]) -> str:
    """One JSON object per example, one per line."""
    keys = ("id", "input", "expected_output", "metadata", "source_span_id", "source_trace_id")
    return "".join(orjson.dumps({k: getattr(e, k) for k in keys}).decode() + "\n" for e in examples)


def export_csv(examples: list[Example]) -> str:
    """A CSV with a header; importing it back with the default options gives the same examples (as text)."""
    input_keys: dict[str, None] = {}
    for example in examples:
        input_keys.update(dict.fromkeys(example.input))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", *(_INPUT_PREFIX + k for k in input_keys), "expected_output", "metadata", *_LINK_COLUMNS])
    for e in examples:
        inputs = [_cell(e.input[k]) if k in e.input else "" for k in input_keys]
        expected = "" if e.expected_output is None else _cell(e.expected_output)
        metadata = orjson.dumps(e.metadata).decode() if e.metadata else ""
        writer.writerow([e.id, *inputs, expected, metadata, e.source_span_id or "", e.source_trace_id or ""])
    return out.getvalue()


# -- internals ----------------------------------------------------------------------------------------------
def _example(item: dict[str, Any], source: str, number: int) -> ExampleInput:
    try:
        return ExampleInput.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'example'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"{source}, line {number}: {problems}") from None


def _check_count(examples: list[ExampleInput], source: str) -> None:
    if len(examples) > MAX_EXAMPLES_PER_CHANGE:
        raise InvalidInput(f"{source} holds more than {MAX_EXAMPLES_PER_CHANGE} examples; split it")


def _column_plan(
    header: list[str],
    source: str,
    input_columns: Sequence[str] | None,
    expected_column: str | None,
    metadata_columns: Sequence[str],
) -> dict[str, Any]:
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise InvalidInput(f"{source}: the header repeats column(s) {', '.join(duplicates)}")
    named = [*(input_columns or ()), *metadata_columns, *([expected_column] if expected_column else [])]
    unknown = [c for c in named if c not in header]
    if unknown:
        raise InvalidInput(f"{source}: no column(s) {', '.join(map(repr, unknown))} in the header {header}")
    if expected_column is None and "expected_output" in header:
        expected_column = "expected_output"
    taken = {expected_column, *metadata_columns, "metadata", "id", *_LINK_COLUMNS}
    inputs = list(input_columns) if input_columns else [c for c in header if c not in taken]
    if not inputs:
        raise InvalidInput(f"{source}: no input columns (header {header})")
    return {
        "index": {name: i for i, name in enumerate(header)},
        "inputs": inputs,
        "expected": expected_column,
        "metadata": list(metadata_columns),
        "json_metadata": "metadata" in header and "metadata" not in metadata_columns,
    }


def _csv_item(row: list[str], plan: dict[str, Any], source: str, number: int) -> dict[str, Any]:
    index = plan["index"]
    item: dict[str, Any] = {
        "input": {_input_key(c): row[index[c]] for c in plan["inputs"]},
        "metadata": {c: row[index[c]] for c in plan["metadata"]},
    }
    if plan["expected"] is not None and row[index[plan["expected"]]] != "":
        item["expected_output"] = row[index[plan["expected"]]]
    if plan["json_metadata"] and row[index["metadata"]].strip():
        try:
            extra = orjson.loads(row[index["metadata"]])
        except orjson.JSONDecodeError:
            extra = None
        if not isinstance(extra, dict):
            raise InvalidInput(f"{source}, line {number}: the metadata cell must hold a JSON object")
        item["metadata"].update(extra)
    for column in _LINK_COLUMNS:
        if column in index and row[index[column]].strip():
            item[column] = row[index[column]].strip()
    return item


def _input_key(column: str) -> str:
    return column[len(_INPUT_PREFIX) :] if column.startswith(_INPUT_PREFIX) and len(column) > 6 else column


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
