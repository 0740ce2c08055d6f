"""FastAPI dependencies: how route handlers reach the running collector."""

from __future__ import annotations

from fastapi import Request

from collector.service import Collector
from collector.store.database import Store

__all__ = ["get_collector", "get_store"]


def get_collector(request: Request) -> Collector:
    collector: Collector = request.app.state.collector
    return collector


def get_store(request: Request) -> Store:
    return get_collector(request).store
