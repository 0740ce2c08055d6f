"""``GET /api/v1/projects``: every project with span, trace, LLM-call and error counts, tokens and cost."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from collector.queries.filters import Page
from collector.queries.projects import ProjectSummary, list_projects
from collector.store.database import Store
from ui.deps import get_store

__all__ = ["router"]

router = APIRouter(tags=["projects"])


@router.get("/projects", response_model=Page[ProjectSummary])
def projects(store: Store = Depends(get_store)) -> Page[ProjectSummary]:
    """Every project that has spans, most recently active first.

    Counts cover all spans of the project; ``error_count`` counts spans with status ERROR; ``cost`` is null
    when no span reports one. Not paged: ``next_cursor`` is always null.
    """
    return Page(data=list_projects(store))
