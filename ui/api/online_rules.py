"""Online-evaluation rules under ``/api/v1/online-rules``: create, list, read, change and delete the rules the
server applies to incoming spans (see :mod:`replay.experiments.online`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from collector.queries.filters import Page
from collector.store.database import Store
from replay.experiments.evaluators import JudgeClients, build_evaluators
from replay.experiments.rules import OnlineRule, OnlineRuleInput, OnlineRuleUpdate, RuleStore
from replay.providers import ProviderRegistry
from ui.api.replays import providers
from ui.deps import get_store

__all__ = ["router"]

router = APIRouter(tags=["online evaluation"])

RuleIdPath = Annotated[str, Path(max_length=100, description="The rule's UUID.")]


def get_rules(store: Store = Depends(get_store)) -> RuleStore:
    return RuleStore(store)


async def _check_evaluators(items: list[object], registry: ProviderRegistry) -> None:
    """Build the evaluators once, so a bad spec or an unusable judge provider is refused now (422)."""
    judges = JudgeClients(registry)
    try:
        await run_in_threadpool(build_evaluators, items, judges=judges, remote=True)  # type: ignore[arg-type]
    finally:
        await judges.aclose()


@router.post("/online-rules", response_model=OnlineRule, status_code=201)
async def create_rule(
    body: OnlineRuleInput,
    rules: RuleStore = Depends(get_rules),
    registry: ProviderRegistry = Depends(providers),
) -> OnlineRule:
    """Create a rule (201): spans of ``span_kind`` (default LLM), optionally of one ``project`` and
    ``prompt_name``, ingested from now on, are evaluated at ``sample_rate`` by its ``evaluators`` (specs as
    text or ``{name, options}``; ``python:`` evaluators and ``@file`` values are refused). Each result is an
    annotation on the span. 422 for a bad rule or evaluator, 409 for a taken name."""
    await _check_evaluators(list(body.evaluators), registry)
    return await run_in_threadpool(rules.create, body)


@router.get("/online-rules", response_model=Page[OnlineRule])
def list_rules(rules: RuleStore = Depends(get_rules)) -> Page[OnlineRule]:
    """Every rule by name, with its counters (evaluated, failed, errors) and watermark (not paged)."""
    return Page(data=rules.list_rules())


@router.get("/online-rules/{rule_id}", response_model=OnlineRule)
def get_rule(rule_id: RuleIdPath, rules: RuleStore = Depends(get_rules)) -> OnlineRule:
    """One rule; 422 for a malformed id, 404 when unknown."""
    return rules.get(rule_id)


@router.patch("/online-rules/{rule_id}", response_model=OnlineRule)
async def update_rule(
    rule_id: RuleIdPath,
    body: OnlineRuleUpdate,
    rules: RuleStore = Depends(get_rules),
    registry: ProviderRegistry = Depends(providers),
) -> OnlineRule:
    """Change a rule (only the fields given), e.g. ``{"enabled": false}`` or a new ``sample_rate``."""
    if body.evaluators is not None:
        await _check_evaluators(list(body.evaluators), registry)
    return await run_in_threadpool(rules.update, rule_id, body)


@router.delete("/online-rules/{rule_id}", response_model=OnlineRule)
def delete_rule(rule_id: RuleIdPath, rules: RuleStore = Depends(get_rules)) -> OnlineRule:
    """Delete a rule and return it as it was; the annotations it wrote stay."""
    return rules.delete(rule_id)
