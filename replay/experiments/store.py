"""Experiments in the store: the ``experiments`` and ``experiment_runs`` tables, and their annotations.

Every write runs on the store's single writer in one transaction. A run's evaluations are written twice on
purpose: in its row (the experiment's own record, read back whole) and as annotations on the run's span
(``trace_id``/``span_id``, annotator kind of the evaluator, metadata naming the experiment, example and
repetition), so they are trace-derived feedback like any other — filters, promotion, the optimizer see them.
An annotation is keyed by the span id the run recorded; the span itself arrives through the normal ingest path
and is joined when read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from collector.queries.filters import as_utc
from collector.store.database import Store
from replay.errors import Conflict, InvalidInput, NotFound
from replay.experiments.models import (
    EvaluatorInfo,
    Experiment,
    ExperimentConfig,
    ExperimentImport,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    Progress,
)

__all__ = ["MAX_LIST", "ExperimentStore", "check_experiment_id", "insert_annotations"]

MAX_LIST = 500
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EXPERIMENT_COLUMNS = (
    "id, name, dataset, dataset_version, origin, status, config, total_runs, summary, error, created_at, finished_at"
)
_RUN_COLUMNS = (
    "experiment_id, example_id, repetition, position, input, expected_output, output, error, attempts, latency_ms, "
    "input_tokens, output_tokens, cost, trace_id, span_id, evaluations, started_at"
)
_ANNOTATION_COLUMNS = "id, trace_id, span_id, name, score, label, explanation, annotator_kind, metadata, created_at"
_RUN_TYPES = {
    "repetition": pa.int32(),
    "position": pa.int32(),
    "attempts": pa.int32(),
    "latency_ms": pa.float64(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "cost": pa.float64(),
    "started_at": pa.timestamp("us"),
}
_ANNOTATION_TYPES = {"score": pa.float64(), "created_at": pa.timestamp("us")}
_COUNTS = (
    "LEFT JOIN (SELECT experiment_id, count(*) AS done, count(error) AS errors FROM experiment_runs "
    "GROUP BY experiment_id) r ON r.experiment_id = e.id"
)


def check_experiment_id(experiment_id: str) -> str:
    """``experiment_id`` unchanged, or :class:`InvalidInput` unless it is a lower-case UUID."""
    if not _ID.fullmatch(experiment_id):
        raise InvalidInput(f"experiment id {experiment_id[:60]!r} is not valid: expected a lower-case UUID")
    return experiment_id


class ExperimentStore:
    """Create, progress, finish, import and read experiments."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- writes -------------------------------------------------------------------------------------------------
    def create(self, experiment: Experiment) -> None:
        """Insert a new (running) experiment; :class:`Conflict` when its id is taken."""
        self.store.write(lambda con: _insert_experiment(con, experiment)).result()

    def add_runs(self, experiment_id: str, runs: Sequence[ExperimentRun], evaluators: Sequence[EvaluatorInfo]) -> None:
        """Store finished runs and their evaluations as span annotations, in one transaction."""
        if runs:
            self.store.write(lambda con: _insert_runs(con, experiment_id, runs, evaluators)).result()

    def finish(
        self,
        experiment_id: str,
        *,
        status: ExperimentStatus,
        summary: ExperimentSummary | None,
        error: str | None = None,
    ) -> Experiment:
        """Record how a running experiment ended; its summary is written with its status."""
        summary_json = None if summary is None else orjson.dumps(summary.model_dump(mode="json")).decode()

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "UPDATE experiments SET status = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?",
                [status, summary_json, error, _naive(datetime.now(UTC)), experiment_id],
            )

        self.store.write(write).result()
        return self.get(experiment_id)

    def import_experiment(self, data: ExperimentImport, summary: ExperimentSummary) -> Experiment:
        """Store an experiment computed elsewhere, its runs and their annotations, all in one transaction."""
        now = datetime.now(UTC)
        experiment = Experiment(
            id=data.id or str(uuid.uuid4()),
            name=data.name,
            dataset=data.dataset,
            dataset_version=data.dataset_version,
            origin="import",
            status=data.status,
            config=data.config,
            progress=Progress(total=len(data.runs)),
            summary=summary,
            error=data.error,
            created_at=data.created_at or now,
            finished_at=data.finished_at or now,
        )
        keys = [run.key for run in data.runs]
        if len(set(keys)) != len(keys):
            raise InvalidInput("two runs share an example id and repetition; each run must be there once")

        def write(con: duckdb.DuckDBPyConnection) -> None:
            _insert_experiment(con, experiment)
            _insert_runs(con, experiment.id, data.runs, data.config.evaluators)

        self.store.write(write).result()
        return self.get(experiment.id)

    def mark_interrupted(self) -> int:
        """Mark experiments left ``running`` by an earlier server process as failed; returns how many."""

        def write(con: duckdb.DuckDBPyConnection) -> int:
            row = con.execute("SELECT count(*) FROM experiments WHERE status = 'running'").fetchone()
            con.execute(
                "UPDATE experiments SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running'",
                ["the server stopped while the experiment ran", _naive(datetime.now(UTC))],
            )
            return int(row[0]) if row else 0

        return self.store.write(write).result()

    # -- reads --------------------------------------------------------------------------------------------------
    def get(self, experiment_id: str) -> Experiment:
        """One experiment; :class:`InvalidInput` for a malformed id, :class:`NotFound` when unknown."""
        check_experiment_id(experiment_id)
        found = self.store.read(lambda con: _experiments(con, "WHERE e.id = ?", [experiment_id], 1))
        if not found:
            raise NotFound(f"no experiment with id {experiment_id}")
        return found[0]

    def list_experiments(self, *, dataset: str | None = None, limit: int = 100) -> list[Experiment]:
        """Experiments, newest first, optionally of one dataset (at most ``limit``, itself at most 500)."""
        where, params = ("WHERE e.dataset = ?", [dataset]) if dataset is not None else ("", [])
        return self.store.read(lambda con: _experiments(con, where, params, min(limit, MAX_LIST)))

    def runs(self, experiment_id: str, *, offset: int = 0, limit: int | None = None) -> list[ExperimentRun]:
        """An experiment's stored runs in dataset order (example position, then repetition)."""
        self.get(experiment_id)
        page = "" if limit is None else f" LIMIT {int(limit)}"
        sql = (
            f"SELECT {_RUN_COLUMNS} FROM experiment_runs WHERE experiment_id = ? "
            f"ORDER BY position, example_id, repetition{page} OFFSET {int(offset)}"
        )
        rows = self.store.read(lambda con: con.execute(sql, [experiment_id]).fetchall())
        return [_run(row) for row in rows]


def _insert_experiment(con: duckdb.DuckDBPyConnection, experiment: Experiment) -> None:
    if con.execute("SELECT 1 FROM experiments WHERE id = ?", [experiment.id]).fetchall():
        raise Conflict(f"an experiment with id {experiment.id} already exists")
    summary = None if experiment.summary is None else _json(experiment.summary.model_dump(mode="json"))
    finished = None if experiment.finished_at is None else _naive(experiment.finished_at)
    con.execute(
        f"INSERT INTO experiments ({_EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            experiment.id,
            experiment.name,
            experiment.dataset,
            experiment.dataset_version,
            experiment.origin,
            experiment.status,
            _json(experiment.config.model_dump(mode="json")),
            experiment.progress.total,
            summary,
            experiment.error,
            _naive(experiment.created_at),
            finished,
        ],
    )


def _insert_runs(
    con: duckdb.DuckDBPyConnection,
    experiment_id: str,
    runs: Sequence[ExperimentRun],
    evaluators: Sequence[EvaluatorInfo],
) -> None:
    names = [name.strip() for name in _RUN_COLUMNS.split(",")]
    columns = list(zip(*[_run_row(experiment_id, run) for run in runs], strict=True))
    table = pa.table(
        {
            name: pa.array(values, type=_RUN_TYPES.get(name, pa.string()))
            for name, values in zip(names, columns, strict=True)
        }
    )
    con.register("_runs_batch", table)
    try:
        con.execute(f"INSERT INTO experiment_runs ({_RUN_COLUMNS}) SELECT {_RUN_COLUMNS} FROM _runs_batch")
    finally:
        con.unregister("_runs_batch")
    kinds = {info.name: info.annotator_kind for info in evaluators}
    insert_annotations(con, [row for run in runs for row in _annotation_rows(experiment_id, run, kinds)])


def insert_annotations(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert annotation rows (values in :data:`_ANNOTATION_COLUMNS` order) in one Arrow insert: DuckDB's
    ``executemany`` runs one statement per row, ~50x slower for the thousands an experiment or a rule writes."""
    if not rows:
        return
    names = [name.strip() for name in _ANNOTATION_COLUMNS.split(",")]
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            name: pa.array(values, type=_ANNOTATION_TYPES.get(name, pa.string()))
            for name, values in zip(names, columns, strict=True)
        }
    )
    con.register("_annotations_batch", table)
    try:
        con.execute(
            f"INSERT INTO annotations ({_ANNOTATION_COLUMNS}) SELECT {_ANNOTATION_COLUMNS} FROM _annotations_batch"
        )
    finally:
        con.unregister("_annotations_batch")


def _run_row(experiment_id: str, run: ExperimentRun) -> list[Any]:
    data = run.model_dump(mode="json")
    return [
        experiment_id,
        run.example_id,
        run.repetition,
        run.position,
        _json(data["input"]),
        _json(data["expected_output"]),
        _json(data["output"]),
        run.error,
        run.attempts,
        run.latency_ms,
        run.input_tokens,
        run.output_tokens,
        run.cost,
        run.trace_id,
        run.span_id,
        _json(data["evaluations"]),
        _naive(run.started_at),
    ]


def _annotation_rows(experiment_id: str, run: ExperimentRun, kinds: dict[str, Any]) -> list[list[Any]]:
    if run.trace_id is None or run.span_id is None:
        return []
    now = _naive(datetime.now(UTC))
    rows = []
    for result in run.evaluations:
        annotation = result.to_annotation(annotator_kind=kinds.get(result.name, "CODE"))
        metadata = {
            **(annotation.metadata or {}),
            "experiment_id": experiment_id,
            "example_id": run.example_id,
            "repetition": run.repetition,
        }
        rows.append(
            [
                str(uuid.uuid4()),
                run.trace_id,
                run.span_id,
                annotation.name,
                annotation.score,
                annotation.label,
                annotation.explanation,
                annotation.annotator_kind,
                _json(metadata),
                now,
            ]
        )
    return rows


def _experiments(con: duckdb.DuckDBPyConnection, where: str, params: list[Any], limit: int) -> list[Experiment]:
    columns = ", ".join(f"e.{name.strip()}" for name in _EXPERIMENT_COLUMNS.split(","))
    rows = con.execute(
        f"SELECT {columns}, coalesce(r.done, 0), coalesce(r.errors, 0) FROM experiments e {_COUNTS} {where} "
        f"ORDER BY e.created_at DESC, e.id LIMIT {int(limit)}",
        params,
    ).fetchall()
    return [_experiment(row) for row in rows]


def _experiment(row: tuple[Any, ...]) -> Experiment:
    (id_, name, dataset, version, origin, status, config, total, summary, error, created, finished, done, errors) = row
    return Experiment(
        id=id_,
        name=name,
        dataset=dataset,
        dataset_version=version,
        origin=origin,
        status=status,
        config=ExperimentConfig.model_validate(orjson.loads(config)),
        progress=Progress(total=total, done=done, errors=errors),
        summary=None if summary is None else ExperimentSummary.model_validate(orjson.loads(summary)),
        error=error,
        created_at=as_utc(created),
        finished_at=None if finished is None else as_utc(finished),
    )


def _run(row: tuple[Any, ...]) -> ExperimentRun:
    names = [name.strip() for name in _RUN_COLUMNS.split(",")][1:]
    values = dict(zip(names, row[1:], strict=True))
    for key in ("input", "expected_output", "output", "evaluations"):
        values[key] = None if values[key] is None else orjson.loads(values[key])
    values["started_at"] = as_utc(values["started_at"])
    return ExperimentRun.model_validate(values)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _naive(moment: datetime) -> datetime:
    """UTC without a zone, as the store keeps timestamps."""
    return moment.astimezone(UTC).replace(tzinfo=None)
