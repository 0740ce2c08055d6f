"""pytest plugin for the fake model provider (enable with `pytest_plugins = ["tests.fakeopenai.fixtures"]`).

* `fake_openai` (function scope): the running `FakeOpenAI`, reset before and after the test, so each
  test starts with an empty script, no latency and no recorded requests.
* `fake_openai_server` (session scope): the one server behind it, started on first use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeOpenAI

__all__ = ["fake_openai", "fake_openai_server"]


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()
