"""Optimization runs in the store: the ``optimizations`` table.

One row per run of the optimizer started through the server. It is written when the run starts — with the
request, the prompt version and dataset version it pinned, and the train/validation/test split, so which
examples were held out is on record before any rollout — then its progress as the run goes, and finally its
status, result, saved prompt version or error. Every write goes through the store's single writer.

Statuses: ``running``; then ``completed``, ``failed`` (see ``error``), ``cancelled``, or ``interrupted`` (the
server stopped while it ran).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import orjson
from pydantic import BaseModel, Field

from collector.queries.filters import as_utc
from collector.store.database import Store
from optimizer.errors import OptimizationNotFound
from optimizer.progress import OptimizationProgress
from optimizer.result import OptimizationResult
from optimizer.split import DatasetSplit

__all__ = ["MAX_LIST", "SERVER_STOPPED", "OptimizationRecords", "OptimizationRun", "OptimizationStatus"]

MAX_LIST = 200
OptimizationStatus = Literal["running", "completed", "failed", "cancelled", "interrupted"]
SERVER_STOPPED = "the server stopped while the optimization ran"  # the error of an ``interrupted`` run
_COLUMNS = (
    "id, name, status, prompt, prompt_version, dataset, dataset_version, request, split, progress, result, "
    "saved_version, error, created_at, updated_at, finished_at"
)


class OptimizationRun(BaseModel):
    """An optimization run as stored (and as ``GET /api/v1/optimizations/{id}`` shows it)."""

    id: str
    name: str
    status: OptimizationStatus
    prompt: str = Field(description="The prompt as asked for, e.g. NAME@production.")
    prompt_version: str = Field(description="The version it resolved to, NAME@VERSION.")
    dataset: str
    dataset_version: int
    request: dict[str, Any]
    split: DatasetSplit
    progress: OptimizationProgress
    result: OptimizationResult | None = None
    saved_version: str | None = Field(None, description="NAME@VERSION the winner was saved as.")
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    links: dict[str, str] = Field(default_factory=dict)


class OptimizationRecords:
    """Create, progress, finish and read optimization runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, run: OptimizationRun) -> None:
        values = [
            run.id, run.name, run.status, run.prompt, run.prompt_version, run.dataset, run.dataset_version,
            _json(run.request), _json(run.split.model_dump(mode="json")), _json(run.progress.model_dump(mode="json")),
            None, None, None, _naive(run.created_at), _naive(run.updated_at), None,
        ]  # fmt: skip
        self.store.write(
            lambda con: con.execute(f"INSERT INTO optimizations ({_COLUMNS}) VALUES ({', '.join('?' * 16)})", values)
        ).result()

    def update_progress(self, run_id: str, progress: OptimizationProgress) -> None:
        """Store the live progress of a running optimization (a run that ended is left alone)."""
        payload = _json(progress.model_dump(mode="json"))
        self.store.write(
            lambda con: con.execute(
                "UPDATE optimizations SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'",
                [payload, _naive(datetime.now(UTC)), run_id],
            )
        ).result()

    def finish(
        self,
        run_id: str,
        *,
        status: OptimizationStatus,
        progress: OptimizationProgress,
        result: OptimizationResult | None = None,
        saved_version: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a run ended, all in one write."""
        now = _naive(datetime.now(UTC))
        values = [
            status,
            _json(progress.model_dump(mode="json")),
            None if result is None else _json(result.model_dump(mode="json")),
            saved_version,
            error,
            now,
            now,
            run_id,
        ]
        self.store.write(
            lambda con: con.execute(
                "UPDATE optimizations SET status = ?, progress = ?, result = ?, saved_version = ?, error = ?, "
                "updated_at = ?, finished_at = ? WHERE id = ?",
                values,
            )
        ).result()

    def mark_interrupted(self) -> int:
        """Mark runs an earlier server process left ``running`` as ``interrupted``; return how many."""

        def write(con: duckdb.DuckDBPyConnection) -> int:
            row = con.execute("SELECT count(*) FROM optimizations WHERE status = 'running'").fetchone()
            con.execute(
                "UPDATE optimizations SET status = 'interrupted', error = ?, finished_at = ? WHERE status = 'running'",
                [SERVER_STOPPED, _naive(datetime.now(UTC))],
            )
            return int(row[0]) if row else 0

        return self.store.write(write).result()

    def get(self, run_id: str) -> OptimizationRun:
        """One run; :class:`OptimizationNotFound` when unknown."""
        rows = self.store.read(
            lambda con: con.execute(f"SELECT {_COLUMNS} FROM optimizations WHERE id = ?", [run_id]).fetchall()
        )
        if not rows:
            raise OptimizationNotFound(f"no optimization with id {run_id!r}")
        return _run(rows[0])

    def list_runs(self, *, limit: int = 50) -> list[OptimizationRun]:
        """The latest runs, newest first."""
        rows = self.store.read(
            lambda con: con.execute(
                f"SELECT {_COLUMNS} FROM optimizations ORDER BY created_at DESC LIMIT ?", [min(limit, MAX_LIST)]
            ).fetchall()
        )
        return [_run(row) for row in rows]


def _run(row: tuple[Any, ...]) -> OptimizationRun:
    (run_id, name, status, prompt, version, dataset, dataset_version, request, split, progress, result, saved,
     error, created, updated, finished) = row  # fmt: skip
    return OptimizationRun(
        id=run_id,
        name=name,
        status=status,
        prompt=prompt,
        prompt_version=version,
        dataset=dataset,
        dataset_version=dataset_version,
        request=orjson.loads(request),
        split=DatasetSplit.model_validate_json(split),
        progress=OptimizationProgress.model_validate_json(progress),
        result=None if result is None else OptimizationResult.model_validate_json(result),
        saved_version=saved,
        error=error,
        created_at=as_utc(created),
        updated_at=as_utc(updated),
        finished_at=None if finished is None else as_utc(finished),
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
