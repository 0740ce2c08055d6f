"""FastAPI dependencies: how route handlers reach the running collector.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, and a hand-off per
dependency cost ~1 ms a request on the 2-core machine, for a lookup of an attribute.
"""

from __future__ import annotations

from fastapi import Request

from collector.service import Collector
from collector.store.database import Store

__all__ = ["collector_of", "get_collector", "get_store"]


def collector_of(request: Request) -> Collector:
    """The collector the app was built around."""
    collector: Collector = request.app.state.collector
    return collector


async def get_collector(request: Request) -> Collector:
    return collector_of(request)


async def get_store(request: Request) -> Store:
    return collector_of(request).store
