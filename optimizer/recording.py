"""The seam through which the loop stores its validation and test runs as experiments.

The loop calls :meth:`ExperimentRecorder.record` with the :class:`~replay.experiments.ExperimentResult` of
each validation run of a candidate and of each test run (never of minibatches: they are search noise), and
keeps the returned :class:`ExperimentRef` on the candidate, so ``best_experiment_url`` links into spanlab. A
recorder that fails does not stop the run: the loop notes the failure in its messages and goes on without the
link.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from optimizer.candidates import Candidate
from replay.experiments.api import ExperimentResult

__all__ = ["ExperimentRecorder", "ExperimentRef"]


class ExperimentRef(BaseModel):
    """A stored experiment: its id and where to see it (an API path or URL)."""

    id: str
    url: str | None = None


class ExperimentRecorder(Protocol):
    """Stores one run of one candidate on one part of the split."""

    def record(
        self,
        *,
        optimization: str,
        candidate: Candidate,
        prompt: Any,
        part: str,
        experiment: ExperimentResult,
        score: float,
    ) -> ExperimentRef: ...
