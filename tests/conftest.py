"""Shared fixtures: a real ``spanlab serve`` subprocess on ephemeral ports, and the fake model provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ServerProcess, start_server

pytest_plugins = ["tests.fakeopenai.fixtures"]


@pytest.fixture(scope="session")
def spanlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the session; tests keep apart by using their own project names and ids."""
    server = start_server(tmp_path_factory.mktemp("spanlab") / "spanlab.duckdb")
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, on an empty store."""
    server = start_server(tmp_path / "spanlab.duckdb")
    yield server
    if server.process.poll() is None:
        server.stop()
