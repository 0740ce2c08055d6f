"""Optimizations under ``/api/v1/optimizations``: start one in the background, watch it, cancel it, and get its
score history as a picture. The work is :mod:`optimizer.runs`'s."""

from __future__ import annotations

import re
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from collector.queries.filters import Page
from optimizer.plot import result_svg, score_history_svg
from optimizer.records import MAX_LIST, OptimizationRun
from optimizer.runs import OptimizationRequest, OptimizationService
from replay.errors import InvalidInput
from replay.providers import ProviderRegistry
from ui.api.replays import providers
from ui.deps import collector_of

__all__ = ["get_service", "router"]

router = APIRouter(tags=["optimizations"])

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CREATE = threading.Lock()
IdPath = Annotated[str, Path(max_length=100, description="The optimization's UUID.")]


def get_service(request: Request) -> OptimizationService:
    """The app's optimization service, made on first use (it marks runs a previous process left running as
    interrupted)."""
    with _CREATE:
        service: OptimizationService | None = getattr(request.app.state, "optimizations", None)
        if service is None:
            tracer = getattr(request.app.state, "experiment_tracer", None)
            service = OptimizationService(collector_of(request).store, tracer=tracer)
            request.app.state.optimizations = service
    return service


def _checked(run_id: str) -> str:
    if not _ID.fullmatch(run_id):
        raise InvalidInput(f"optimization id {run_id[:60]!r} is not valid: expected a lower-case UUID")
    return run_id


def _linked(run: OptimizationRun) -> OptimizationRun:
    base = f"/api/v1/optimizations/{run.id}"
    links = {"self": base, "cancel": f"{base}/cancel", "score_history_svg": f"{base}/score-history.svg"}
    if run.saved_version:
        name, _, version = run.saved_version.rpartition("@")
        links["saved_version"] = f"/api/v1/prompts/{name}/versions/{version}"
    return run.model_copy(update={"links": links})


@router.post("/optimizations", response_model=OptimizationRun, status_code=202)
def start(
    body: OptimizationRequest,
    request: Request,
    service: OptimizationService = Depends(get_service),
    registry: ProviderRegistry = Depends(providers),
) -> OptimizationRun:
    """Start optimizing a prompt version on a dataset in the background and return the run (202, ``running``),
    with its train/validation/test split. Poll ``GET /optimizations/{id}`` for progress and, once ended, the
    result; the winner is saved as a new prompt version (``save``) and tagged only when ``tag`` says so.

    Checked first, with nothing stored on error: 404 unknown dataset, version or prompt; 422 a bad body, an
    unknown provider, no model, a bad evaluator spec (``python:`` evaluators and ``@file`` values are refused),
    a dataset too small to split, a budget below the baseline run, a bad tag; 409 too many optimizations running.
    """
    base_url = str(request.base_url).rstrip("/")

    def experiment_url(experiment_id: str) -> str:
        return f"{base_url}/api/v1/experiments/{experiment_id}"

    return _linked(service.start(body, registry, experiment_url=experiment_url))


@router.get("/optimizations", response_model=Page[OptimizationRun])
def list_runs(
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description=f"At most this many, 1 to {MAX_LIST}.")] = 50,
    service: OptimizationService = Depends(get_service),
) -> Page[OptimizationRun]:
    """The latest optimizations, newest first (not paged: ``next_cursor`` is always null)."""
    return Page(data=[_linked(run) for run in service.list_runs(limit=limit)])


@router.get("/optimizations/{run_id}", response_model=OptimizationRun)
def get_run(run_id: IdPath, service: OptimizationService = Depends(get_service)) -> OptimizationRun:
    """One optimization: its status, live progress (phase, iteration, rollouts, scores, candidates, messages),
    and once ended its result (best prompt, scores, test estimate with its interval, history, usage). 422 for a
    malformed id, 404 when unknown."""
    return _linked(service.get(_checked(run_id)))


@router.post("/optimizations/{run_id}/cancel", response_model=OptimizationRun)
def cancel(run_id: IdPath, service: OptimizationService = Depends(get_service)) -> OptimizationRun:
    """Ask a running optimization to stop; it turns ``cancelled`` within moments, nothing is saved. 409 when it
    is not running, 404 when unknown."""
    return _linked(service.cancel(_checked(run_id)))


@router.get(
    "/optimizations/{run_id}/score-history.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The score history as SVG."}},
)
def score_history(run_id: IdPath, service: OptimizationService = Depends(get_service)) -> Response:
    """The validation score of every candidate over iterations, the best so far and, once ended, the test
    scores: an SVG picture, drawn from the live progress while the run goes on."""
    run = service.get(_checked(run_id))
    if run.result is not None:
        svg = result_svg(run.result)
    else:
        progress = run.progress
        svg = score_history_svg(
            progress.candidates,
            baseline_score=progress.baseline_score,
            best_by_iteration=progress.best_by_iteration,
            title=f"optimization {run.name} ({run.status})",
        )
    return Response(svg, media_type="image/svg+xml")
