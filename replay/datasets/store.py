"""Datasets in the store, versioned by validity ranges.

Storage: one ``dataset_examples`` row per *revision* of an example, visible in dataset versions
``[valid_from, valid_to)`` (``valid_to`` null while current). Adding an example inserts a row; editing closes
the current row and inserts the new revision; deleting closes the row. Reading version ``v`` is one indexed
range query, reading the current version is ``valid_to IS NULL``; no version ever copies the unchanged rows,
so a one-example edit of a large dataset costs one row, and every older version stays readable.

Every change runs in one writer transaction that also writes the ``dataset_versions`` row (with a note saying
what changed and the example count), so a change is stored whole or not at all. A change that changes nothing
makes no version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from collector.queries.filters import as_utc
from collector.store.database import Store
from replay.datasets.models import (
    Dataset,
    DatasetChange,
    DatasetInput,
    DatasetVersion,
    Example,
    ExampleInput,
    ExampleUpdate,
    check_dataset_name,
)
from replay.errors import Conflict, InvalidInput, NotFound

__all__ = ["DatasetStore"]

_EXAMPLE_COLUMNS = (
    "example_id, input, expected_output, metadata, source_span_id, source_trace_id, created_at, updated_at"
)
# The order of _row's values.
_ROW_COLUMNS = (
    "dataset",
    "example_id",
    "position",
    "valid_from",
    "valid_to",
    "input",
    "expected_output",
    "metadata",
    "source_trace_id",
    "source_span_id",
    "created_at",
    "updated_at",
)
_ROW_SCHEMA = pa.schema(
    [
        (name, pa.int32() if name in ("position", "valid_from", "valid_to") else pa.string())
        for name in _ROW_COLUMNS[:10]
    ]
    + [("created_at", pa.timestamp("us")), ("updated_at", pa.timestamp("us"))]
)
# apply(con, new_version) -> (examples written, whether anything changed)
Apply = Callable[[duckdb.DuckDBPyConnection, int], tuple[list[Example], bool]]


class DatasetStore:
    """Create datasets, change their examples (each change a new version) and read any version."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- datasets -----------------------------------------------------------------------------------------------
    def create(self, data: DatasetInput) -> Dataset:
        """A new, empty dataset at version 0; :class:`Conflict` when the name is taken."""
        now = _now()

        def write(con: duckdb.DuckDBPyConnection) -> None:
            if _current_version(con, data.name) is not None:
                raise Conflict(f"a dataset named {data.name!r} already exists")
            _insert_dataset(con, data.name, data.description, now)

        self.store.write(write).result()
        return self.get_dataset(data.name)

    def get_dataset(self, name: str) -> Dataset:
        """A dataset with its current version and example count; :class:`NotFound` when unknown."""

        def read(con: duckdb.DuckDBPyConnection) -> Dataset:
            found = _datasets(con, "WHERE d.name = ?", [name])
            if not found:
                raise NotFound(f"no dataset named {name!r}")
            return found[0]

        return self.store.read(read)

    def list_datasets(self) -> list[Dataset]:
        """Every dataset, by name."""
        return self.store.read(lambda con: _datasets(con, "", []))

    def versions(self, name: str) -> list[DatasetVersion]:
        """A dataset's versions, newest first."""

        def read(con: duckdb.DuckDBPyConnection) -> list[DatasetVersion]:
            _require_dataset(con, name)
            rows = con.execute(
                "SELECT version, created_at, note, example_count FROM dataset_versions WHERE dataset = ? "
                "ORDER BY version DESC",
                [name],
            ).fetchall()
            return [
                DatasetVersion(dataset=name, version=v, created_at=as_utc(at), note=note, example_count=count)
                for v, at, note, count in rows
            ]

        return self.store.read(read)

    # -- examples: reads ----------------------------------------------------------------------------------------
    def get_examples(self, name: str, *, version: int | None = None) -> list[Example]:
        """The examples of a version (the current one by default), in the order they were added."""

        def read(con: duckdb.DuckDBPyConnection) -> list[Example]:
            at = _version_to_read(con, name, version)
            rows = con.execute(
                f"SELECT {_EXAMPLE_COLUMNS} FROM dataset_examples WHERE dataset = ? AND {_visible()} ORDER BY position",
                [name, at, at],
            ).fetchall()
            return [_example(row) for row in rows]

        return self.store.read(read)

    def get_example(self, dataset: str, example_id: str, *, version: int | None = None) -> Example:
        """One example as it is in a version (the current one by default); :class:`NotFound` otherwise."""

        def read(con: duckdb.DuckDBPyConnection) -> Example:
            at = _version_to_read(con, dataset, version)
            row = con.execute(
                f"SELECT {_EXAMPLE_COLUMNS} FROM dataset_examples WHERE dataset = ? AND example_id = ? "
                f"AND {_visible()}",
                [dataset, example_id, at, at],
            ).fetchone()
            if row is None:
                raise NotFound(f"dataset {dataset!r} has no example {example_id!r} in version {at}")
            return _example(row)

        return self.store.read(read)

    # -- examples: changes --------------------------------------------------------------------------------------
    def add_examples(
        self,
        name: str,
        examples: list[ExampleInput],
        *,
        note: str | None = None,
        create: bool = False,
        skip_known_spans: bool = False,
    ) -> DatasetChange:
        """Add examples in one new version; return it with the examples written.

        ``create`` makes the dataset when it does not exist (otherwise :class:`NotFound`). With
        ``skip_known_spans``, an example whose ``source_span_id`` (and trace) is already in the current
        version is left out, so promoting a span twice does not duplicate it; when every example is left
        out, no version is made.
        """
        if not examples:
            raise InvalidInput("give at least one example")

        def apply(con: duckdb.DuckDBPyConnection, version: int) -> tuple[list[Example], bool]:
            wanted = examples
            if skip_known_spans:
                known = _current_sources(con, name)
                wanted = [e for e in examples if (e.source_trace_id, e.source_span_id) not in known]
                wanted = _unique_sources(wanted)
            written = _insert_examples(con, name, version, wanted)
            return written, bool(written)

        text = note or f"added {len(examples)} example{'s' if len(examples) != 1 else ''}"
        return self._change(name, text, apply, create=create)

    def update_example(self, name: str, example_id: str, update: ExampleUpdate) -> Example:
        """Edit an example in a new version (only the fields given change); return its new revision.

        When the edit changes nothing, no version is made and the example is returned as it is.
        """

        def apply(con: duckdb.DuckDBPyConnection, version: int) -> tuple[list[Example], bool]:
            current = _current_row(con, name, example_id)
            changed = current.model_copy(update=update.model_dump(include=update.model_fields_set))
            if _same(current, changed):
                return [current], False
            changed.updated_at = as_utc(_now())
            _close(con, name, example_id, version)
            _insert_revision(con, name, version, changed)
            return [changed], True

        return self._change(name, f"edited example {example_id}", apply).examples[0]

    def delete_example(self, name: str, example_id: str) -> DatasetChange:
        """Remove an example from a new version (older versions keep it)."""

        def apply(con: duckdb.DuckDBPyConnection, version: int) -> tuple[list[Example], bool]:
            _current_row(con, name, example_id)
            _close(con, name, example_id, version)
            return [], True

        return self._change(name, f"deleted example {example_id}", apply)

    def _change(self, name: str, note: str, apply: Apply, *, create: bool = False) -> DatasetChange:
        if create:
            try:
                check_dataset_name(name)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        now = _now()

        def write(con: duckdb.DuckDBPyConnection) -> DatasetChange:
            current = _current_version(con, name)
            if current is None and not create:
                raise NotFound(f"no dataset named {name!r}")
            version = (current or 0) + 1
            written, changed = apply(con, version)
            if not changed:
                return DatasetChange(dataset=name, version=current or 0, examples=written)
            if current is None:
                _insert_dataset(con, name, None, now)
            con.execute("UPDATE datasets SET version = ?, updated_at = ? WHERE name = ?", [version, now, name])
            count = con.execute(
                "SELECT count(*) FROM dataset_examples WHERE dataset = ? AND valid_to IS NULL", [name]
            ).fetchone()
            con.execute(
                "INSERT INTO dataset_versions VALUES (?, ?, ?, ?, ?)",
                [name, version, now, note, count[0] if count else 0],
            )
            return DatasetChange(dataset=name, version=version, examples=written)

        return self.store.write(write).result()


# -- queries ------------------------------------------------------------------------------------------------
def _datasets(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Dataset]:
    rows = con.execute(
        "SELECT d.name, d.description, d.version, "
        "(SELECT count(*) FROM dataset_examples e WHERE e.dataset = d.name AND e.valid_to IS NULL), "
        f"d.created_at, d.updated_at FROM datasets d {where} ORDER BY d.name",
        params,
    ).fetchall()
    return [
        Dataset(name=n, description=desc, version=v, example_count=c, created_at=as_utc(ca), updated_at=as_utc(ua))
        for n, desc, v, c, ca, ua in rows
    ]


def _visible() -> str:
    """Rows of the version given by the next two parameters."""
    return "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"


def _current_version(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    row = con.execute("SELECT version FROM datasets WHERE name = ?", [name]).fetchone()
    return None if row is None else int(row[0])


def _require_dataset(con: duckdb.DuckDBPyConnection, name: str) -> int:
    current = _current_version(con, name)
    if current is None:
        raise NotFound(f"no dataset named {name!r}")
    return current


def _version_to_read(con: duckdb.DuckDBPyConnection, name: str, version: int | None) -> int:
    current = _require_dataset(con, name)
    if version is None:
        return current
    if version < 0 or version > current:
        raise NotFound(f"dataset {name!r} has no version {version} (versions 0 to {current})")
    return version


def _current_row(con: duckdb.DuckDBPyConnection, name: str, example_id: str) -> Example:
    row = con.execute(
        f"SELECT {_EXAMPLE_COLUMNS} FROM dataset_examples WHERE dataset = ? AND example_id = ? AND valid_to IS NULL",
        [name, example_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"dataset {name!r} has no example {example_id!r}")
    return _example(row)


def _current_sources(con: duckdb.DuckDBPyConnection, name: str) -> set[tuple[str | None, str | None]]:
    rows = con.execute(
        "SELECT source_trace_id, source_span_id FROM dataset_examples "
        "WHERE dataset = ? AND valid_to IS NULL AND source_span_id IS NOT NULL",
        [name],
    ).fetchall()
    return {(trace, span) for trace, span in rows}


def _unique_sources(examples: list[ExampleInput]) -> list[ExampleInput]:
    seen: set[tuple[str | None, str | None]] = set()
    out = []
    for example in examples:
        key = (example.source_trace_id, example.source_span_id)
        if example.source_span_id is None or key not in seen:
            seen.add(key)
            out.append(example)
    return out


# -- writes -------------------------------------------------------------------------------------------------
def _insert_dataset(con: duckdb.DuckDBPyConnection, name: str, description: str | None, now: datetime) -> None:
    con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, 0)", [name, description, now, now])


def _insert_examples(
    con: duckdb.DuckDBPyConnection, name: str, version: int, examples: list[ExampleInput]
) -> list[Example]:
    # fetchall, not fetchone: registering the Arrow table below needs no result left open on the connection
    rows_now = con.execute("SELECT coalesce(max(position), 0) FROM dataset_examples WHERE dataset = ?", [name])
    position = int(rows_now.fetchall()[0][0])
    now = as_utc(_now())
    written = []
    rows = []
    for example in examples:
        position += 1
        stored = Example(id=str(uuid.uuid4()), created_at=now, updated_at=now, **example.model_dump())
        written.append(stored)
        rows.append(_row(name, position, version, stored))
    if rows:
        _insert_rows(con, rows)
    return written


def _insert_rows(con: duckdb.DuckDBPyConnection, rows: list[list[Any]]) -> None:
    """Insert many rows as one Arrow table: ``executemany`` costs about 2 ms a row, this a few µs."""
    table = pa.table(
        {name: [row[i] for row in rows] for i, name in enumerate(_ROW_COLUMNS)},
        schema=_ROW_SCHEMA,
    )
    con.register("_new_examples", table)
    try:
        con.execute(f"INSERT INTO dataset_examples ({', '.join(_ROW_COLUMNS)}) SELECT * FROM _new_examples")
    finally:
        con.unregister("_new_examples")


def _insert_revision(con: duckdb.DuckDBPyConnection, name: str, version: int, example: Example) -> None:
    row = con.execute(
        "SELECT max(position) FROM dataset_examples WHERE dataset = ? AND example_id = ?", [name, example.id]
    ).fetchone()
    assert row is not None
    columns = ", ".join(_ROW_COLUMNS)
    con.execute(
        f"INSERT INTO dataset_examples ({columns}) VALUES ({', '.join('?' * 12)})", _row(name, row[0], version, example)
    )


def _close(con: duckdb.DuckDBPyConnection, name: str, example_id: str, version: int) -> None:
    con.execute(
        "UPDATE dataset_examples SET valid_to = ? WHERE dataset = ? AND example_id = ? AND valid_to IS NULL",
        [version, name, example_id],
    )


def _row(name: str, position: int, version: int, example: Example) -> list[Any]:
    assert example.created_at is not None and example.updated_at is not None
    return [
        name,
        example.id,
        position,
        version,
        None,
        _json(example.input),
        None if example.expected_output is None else _json(example.expected_output),
        _json(example.metadata),
        example.source_trace_id,
        example.source_span_id,
        example.created_at.replace(tzinfo=None),
        example.updated_at.replace(tzinfo=None),
    ]


def _example(row: tuple[Any, ...]) -> Example:
    example_id, input_, expected, metadata, span_id, trace_id, created_at, updated_at = row
    return Example(
        id=example_id,
        input=orjson.loads(input_),
        expected_output=None if expected is None else orjson.loads(expected),
        metadata=orjson.loads(metadata),
        source_span_id=span_id,
        source_trace_id=trace_id,
        created_at=as_utc(created_at),
        updated_at=as_utc(updated_at),
    )


def _same(a: Example, b: Example) -> bool:
    fields = ("input", "expected_output", "metadata")
    sort = orjson.OPT_SORT_KEYS
    return all(orjson.dumps(getattr(a, f), option=sort) == orjson.dumps(getattr(b, f), option=sort) for f in fields)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
