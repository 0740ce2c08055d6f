"""REST API routers, mounted under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from ui.api.annotations import router as annotations_router
from ui.api.datasets import router as datasets_router
from ui.api.experiments import router as experiments_router
from ui.api.online_rules import router as online_rules_router
from ui.api.optimizations import router as optimizations_router
from ui.api.projects import router as projects_router
from ui.api.prompts import router as prompts_router
from ui.api.replays import router as replays_router
from ui.api.spans import router as spans_router
from ui.api.sql import router as sql_router
from ui.api.status import router as status_router
from ui.api.traces import router as traces_router

__all__ = ["router"]

router = APIRouter()
for child in (status_router, projects_router, traces_router, spans_router, annotations_router, sql_router):
    router.include_router(child)
router.include_router(prompts_router)
router.include_router(datasets_router)
router.include_router(replays_router)
router.include_router(experiments_router)
router.include_router(online_rules_router)
router.include_router(optimizations_router)
