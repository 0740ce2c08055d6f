"""Replays: ``POST /api/v1/replays``, ``GET /api/v1/replays/{id}``, ``GET /api/v1/spans/{span_id}/replays`` and
``GET /api/v1/providers``. The work is :class:`replay.runner.Replayer`'s; this module only wires it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.queries.filters import Page, invalid
from collector.store.database import Store
from replay.overrides import ReplayOverrides
from replay.providers import ProviderRegistry
from replay.records import MAX_LIST, ReplayResult
from replay.runner import Replayer
from ui.api.spans import SpanIdPath
from ui.deps import get_store

__all__ = ["ProviderInfo", "ReplayCreate", "router"]

router = APIRouter(tags=["replays"])


class ReplayCreate(BaseModel):
    """What to replay — a span (``span_id``, plus ``trace_id`` when several traces hold it) or a dataset example
    (``dataset`` and ``example_id``) — and what to change."""

    model_config = ConfigDict(extra="forbid")

    span_id: str | None = Field(None, max_length=16, description="The span to replay (16 hex).")
    trace_id: str | None = Field(None, max_length=32, description="Its trace, when the span id is ambiguous.")
    dataset: str | None = Field(None, min_length=1, max_length=200, description="A dataset, with example_id.")
    example_id: str | None = Field(None, min_length=1, max_length=100, description="An example of that dataset.")
    overrides: ReplayOverrides = Field(default_factory=ReplayOverrides)

    @model_validator(mode="after")
    def _one_target(self) -> ReplayCreate:
        span = self.span_id is not None
        example = self.dataset is not None or self.example_id is not None
        if span == example:
            raise invalid("give either span_id, or dataset and example_id")
        if example and (self.dataset is None or self.example_id is None):
            raise invalid("an example replay needs both dataset and example_id")
        if self.trace_id is not None and not span:
            raise invalid("trace_id goes with span_id")
        return self


class ProviderInfo(BaseModel):
    """A provider a replay can use (keys are never shown)."""

    name: str
    base_url: str | None = Field(None, description="Null: the openai package's default endpoint.")
    default_model: str | None = None
    default: bool = Field(description="Used when neither the caller nor the span chooses one.")
    missing_key_env: str | None = Field(None, description="The unset variable its API key should be in.")


def providers(request: Request) -> ProviderRegistry:
    """The configured providers plus ``local``, this server's own ``/llm/v1`` as the connection reached it."""
    registry: ProviderRegistry = request.app.state.providers
    server = request.scope.get("server")
    if server and server[0]:
        host = f"[{server[0]}]" if ":" in server[0] else server[0]
        root = f"http://{host}:{server[1]}"
    else:
        root = str(request.base_url).rstrip("/")
    return registry.with_local(f"{root}/llm/v1", api_key=request.app.state.settings.api_key)


def replayer(
    request: Request,
    store: Store = Depends(get_store),
    registry: ProviderRegistry = Depends(providers),
) -> Replayer:
    return Replayer(store, registry, tracer=request.app.state.replay_tracer)


@router.post("/replays", response_model=ReplayResult, status_code=201)
def create_replay(body: ReplayCreate, runner: Replayer = Depends(replayer)) -> ReplayResult:
    """Rebuild the call of a span (or dataset example), apply ``overrides``, call the model and return the new
    output beside the original with a diff (201); the result is stored and the call traced into project
    ``replay``.

    Errors, with nothing stored: 422 for a bad body, an unreplayable span (the message lists what is missing),
    missing template variables or an unknown provider; 400 for a malformed id; 404 for an unknown span, example
    or prompt; 409 for an ambiguous span id; 502 when the provider fails (its status and message are in the
    error message), 504 when it times out, 503 when the local model is not installed.
    """
    overrides = body.overrides
    if body.span_id is not None:
        return runner.replay_span(body.span_id, overrides, trace_id=body.trace_id)
    assert body.dataset is not None and body.example_id is not None
    return runner.replay_example(body.dataset, body.example_id, overrides)


@router.get("/replays/{replay_id}", response_model=ReplayResult)
def get_replay(
    replay_id: Annotated[str, Path(max_length=100, description="The replay's UUID.")],
    runner: Replayer = Depends(replayer),
) -> ReplayResult:
    """One stored replay; 422 for a malformed id, 404 when unknown."""
    return runner.get(replay_id)


@router.get("/spans/{span_id}/replays", response_model=Page[ReplayResult])
def span_replays(
    span_id: SpanIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description=f"At most this many, 1 to {MAX_LIST}.")] = 100,
    runner: Replayer = Depends(replayer),
) -> Page[ReplayResult]:
    """The replays of a span, newest first (not paged: ``next_cursor`` is always null); 400 for a malformed id."""
    return Page(data=runner.list_for_span(span_id, limit=limit))


@router.get("/providers", response_model=Page[ProviderInfo])
def list_providers(registry: ProviderRegistry = Depends(providers)) -> Page[ProviderInfo]:
    """The model providers a replay can use, and which one is the default."""
    default = registry.default_name
    data = [
        ProviderInfo(
            name=p.name,
            base_url=p.base_url,
            default_model=p.default_model,
            default=p.name == default,
            missing_key_env=p.missing_key_env,
        )
        for p in (registry.describe(name) for name in registry.names())
    ]
    return Page(data=data)
