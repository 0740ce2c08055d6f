"""Experiments under ``/api/v1/experiments``: start one in the background, watch it, read its runs, cancel it,
compare experiments, import results computed elsewhere. The work is :mod:`replay.experiments`'s."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from collector.queries.filters import Page
from replay.errors import InvalidInput, TooLarge
from replay.experiments.compare import MAX_COMPARED, Comparison
from replay.experiments.models import Experiment, ExperimentImport, ExperimentRun
from replay.experiments.service import ExperimentRequest, ExperimentService
from replay.experiments.store import MAX_LIST
from replay.experiments.summary import merge_summaries, summarize_experiment
from replay.experiments.svg import comparison_svg
from replay.providers import ProviderRegistry
from ui.api.replays import providers

__all__ = ["MAX_IMPORT_BYTES", "CompareRequest", "router"]

router = APIRouter(tags=["experiments"])

MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_RUNS_PAGE = 1000
IdPath = Annotated[str, Path(max_length=100, description="The experiment's UUID.")]


def get_service(request: Request) -> ExperimentService:
    service: ExperimentService = request.app.state.experiments
    return service


class CompareRequest(BaseModel):
    """Experiments to compare, the baseline first, and optionally the evaluator examples are classified by."""

    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] = Field(min_length=2, max_length=MAX_COMPARED)
    evaluator: str | None = Field(None, min_length=1, max_length=200)


@router.post("/experiments", response_model=Experiment, status_code=202)
def start(
    body: ExperimentRequest,
    service: ExperimentService = Depends(get_service),
    registry: ProviderRegistry = Depends(providers),
) -> Experiment:
    """Start an experiment — a prompt version (with model/provider/parameter overrides) over a dataset version,
    judged by evaluators — in the background, and return it (202, status ``running``). Poll
    ``GET /experiments/{id}`` for progress and, once ended, the summary.

    Checked first, with nothing stored on error: 404 unknown dataset, version or prompt; 422 a dataset version
    without examples, an unknown provider, no model, a bad evaluator spec (``python:`` evaluators and ``@file``
    values are refused here: run those client-side and import), bad overrides; 409 too many experiments running.
    """
    return service.start(body, registry)


@router.get("/experiments", response_model=Page[Experiment])
def list_experiments(
    dataset: Annotated[str | None, Query(min_length=1, max_length=200, description="Only this dataset's.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description=f"At most this many (1 to {MAX_LIST}).")] = 100,
    service: ExperimentService = Depends(get_service),
) -> Page[Experiment]:
    """Experiments, newest first (not paged: ``next_cursor`` is always null)."""
    return Page(data=service.experiments.list_experiments(dataset=dataset, limit=limit))


@router.get("/experiments/compare", response_model=Comparison, responses={200: {"content": {"image/svg+xml": {}}}})
def compare_get(
    ids: Annotated[list[str], Query(min_length=2, max_length=MAX_COMPARED, description="Baseline first.")],
    evaluator: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    format: Annotated[Literal["json", "svg"], Query(description="json, or svg for a chart.")] = "json",
    service: ExperimentService = Depends(get_service),
) -> Comparison | Response:
    """Compare experiments (``?ids=BASELINE&ids=CANDIDATE…``); ``format=svg`` draws scores and the score delta
    with its confidence interval. Errors as for ``POST /experiments/compare``."""
    comparison = service.compare(ids, evaluator=evaluator)
    if format == "svg":
        return Response(comparison_svg(comparison), media_type="image/svg+xml")
    return comparison


@router.post("/experiments/compare", response_model=Comparison)
def compare(body: CompareRequest, service: ExperimentService = Depends(get_service)) -> Comparison:
    """Compare the first experiment (baseline) with each other one: per example improved/regressed/unchanged
    with explanations, every summary metric's delta, a paired bootstrap CI on each evaluator's score delta and
    McNemar's test for pass/fail evaluators. 404 unknown experiment, 409 one is still running, 422 no example in
    common or an unknown evaluator."""
    return service.compare(body.experiment_ids, evaluator=body.evaluator)


@router.post("/experiments/import", response_model=Experiment, status_code=201)
async def import_experiment(request: Request, service: ExperimentService = Depends(get_service)) -> Experiment:
    """Store results computed elsewhere (``ExperimentImport`` as JSON, at most 64 MiB): the experiment, its
    runs, and their evaluations as annotations on the runs' spans. The summary is recomputed from the runs.
    422 for a malformed body, 409 when the id is taken, 413 past the size limit; nothing is stored on error."""
    body = await _read_body(request)

    def store() -> Experiment:
        try:
            data = ExperimentImport.model_validate_json(body)
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:10]]
            raise InvalidInput("; ".join(problems)) from None
        computed = summarize_experiment(
            data.runs,
            evaluators=data.config.evaluators,
            repetitions=data.config.repetitions,
            duration_seconds=data.duration_seconds,
        )
        return service.experiments.import_experiment(data, merge_summaries(computed, data.evaluator_summaries))

    return await run_in_threadpool(store)


@router.get("/experiments/{experiment_id}", response_model=Experiment)
def get_experiment(experiment_id: IdPath, service: ExperimentService = Depends(get_service)) -> Experiment:
    """One experiment: status, live progress (total / done / errors) and, once ended, the summary; 422 for a
    malformed id, 404 when unknown."""
    return service.get(experiment_id)


@router.get("/experiments/{experiment_id}/runs", response_model=Page[ExperimentRun])
def runs(
    experiment_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS_PAGE, description=f"1 to {MAX_RUNS_PAGE}.")] = 100,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$", description="next_cursor.")] = None,
    service: ExperimentService = Depends(get_service),
) -> Page[ExperimentRun]:
    """The runs stored so far in dataset order (example, repetition), with output, error, latency, tokens,
    cost, span ids and evaluations; pass ``next_cursor`` back as ``cursor`` for the next page."""
    offset = int(cursor or 0)
    page = service.experiments.runs(experiment_id, offset=offset, limit=limit + 1)
    more = len(page) > limit
    return Page(data=page[:limit], next_cursor=str(offset + limit) if more else None)


@router.post("/experiments/{experiment_id}/cancel", response_model=Experiment)
def cancel(experiment_id: IdPath, service: ExperimentService = Depends(get_service)) -> Experiment:
    """Ask a running experiment to stop; it turns ``cancelled`` within moments, keeping the runs done so far.
    409 when it is not running."""
    return service.cancel(experiment_id)


async def _read_body(request: Request) -> bytes:
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise TooLarge(f"the body is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)
