"""The prompt hub under ``/api/v1/prompts``: push versions, read them by number or tag, move tags, diff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from collector.queries.filters import Page
from collector.store.database import Store
from replay.prompts.hub import PromptHub, parse_ref
from replay.prompts.models import (
    Prompt,
    PromptDiff,
    PromptPushResult,
    PromptTag,
    PromptVersion,
    PromptVersionInput,
    TagMove,
    TagMoveInput,
)
from ui.deps import get_store

__all__ = ["router"]

router = APIRouter(tags=["prompts"])

NamePath = Annotated[str, Path(max_length=200, description="The prompt's name.")]
VersionQuery = Annotated[int, Query(ge=1, le=2**31 - 1, description="A version number.")]


def get_hub(store: Store = Depends(get_store)) -> PromptHub:
    return PromptHub(store)


@router.post("/prompts", response_model=PromptPushResult, status_code=201)
def push(body: PromptVersionInput, response: Response, hub: PromptHub = Depends(get_hub)) -> PromptPushResult:
    """Push a version of a prompt (the prompt is created on its first push).

    201 with ``created: true`` for a new version; 200 with ``created: false`` and the existing version when the
    prompt already has one with identical content (template, model, parameters, tools, response_format,
    metadata). 422 names the bad field (malformed template, reserved parameter, bad name, …).
    """
    version, created = hub.push(body)
    if not created:
        response.status_code = 200
    return PromptPushResult(created=created, prompt_version=version)


@router.get("/prompts", response_model=Page[Prompt])
def prompts(hub: PromptHub = Depends(get_hub)) -> Page[Prompt]:
    """Every prompt with its tags and newest version, by name (not paged)."""
    return Page(data=hub.list_prompts())


@router.get("/prompts/{name}", response_model=Prompt)
def prompt(name: NamePath, hub: PromptHub = Depends(get_hub)) -> Prompt:
    """One prompt; 404 when unknown."""
    return hub.get_prompt(name)


@router.get("/prompts/{name}/versions", response_model=Page[PromptVersion])
def versions(name: NamePath, hub: PromptHub = Depends(get_hub)) -> Page[PromptVersion]:
    """A prompt's versions, newest first (not paged); 404 for an unknown prompt."""
    return Page(data=hub.versions(name))


@router.get("/prompts/{name}/versions/{ref}", response_model=PromptVersion)
def version(
    name: NamePath,
    ref: Annotated[str, Path(max_length=200, description="A version number, a tag, or 'latest'.")],
    hub: PromptHub = Depends(get_hub),
) -> PromptVersion:
    """One version by number (``3``), by tag (``production``) or the newest (``latest``).

    404 for an unknown prompt, version or tag; 422 for a malformed reference.
    """
    return hub.resolve(f"{name}@{ref}")


@router.get("/prompts/{name}/tags", response_model=list[PromptTag])
def tags(name: NamePath, hub: PromptHub = Depends(get_hub)) -> list[PromptTag]:
    """Where each tag of the prompt points now."""
    return hub.tags(name)


@router.put("/prompts/{name}/tags/{tag}", response_model=TagMove)
def move_tag(
    name: NamePath,
    tag: Annotated[str, Path(max_length=200, description="Any name not all digits and not 'latest'.")],
    body: TagMoveInput,
    hub: PromptHub = Depends(get_hub),
) -> TagMove:
    """Point a tag at a version (creating the tag if new); the move is kept in the history.

    Rolling back is moving the tag to an older version. Moving it where it already points records nothing
    and returns its last move. 404 for an unknown prompt or version, 422 for a malformed tag.
    """
    parse_ref(name)
    return hub.move_tag(name, tag, body.version, note=body.note)


@router.get("/prompts/{name}/tag-moves", response_model=list[TagMove])
def tag_moves(
    name: NamePath,
    tag: Annotated[str | None, Query(max_length=200, description="Only this tag's moves.")] = None,
    hub: PromptHub = Depends(get_hub),
) -> list[TagMove]:
    """The history of tag moves (``from_version``, ``to_version``, ``moved_at``, ``note``), newest first."""
    return hub.tag_history(name, tag)


@router.get("/prompts/{name}/diff", response_model=PromptDiff)
def diff(name: NamePath, a: VersionQuery, b: VersionQuery, hub: PromptHub = Depends(get_hub)) -> PromptDiff:
    """What changed from version ``a`` to version ``b``: a unified diff of the messages and every other field."""
    return hub.diff(name, a, b)
