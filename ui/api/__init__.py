"""REST API routers, mounted under ``/api/v1``."""

from fastapi import APIRouter

from ui.api import status

__all__ = ["router"]

router = APIRouter()
router.include_router(status.router)
