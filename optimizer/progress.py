"""What a running optimization reports: its live :class:`OptimizationProgress`, one :class:`CandidatePoint` per
candidate tried, and the :class:`OptimizationEvent` s the loop emits (``on_event``) as it goes.

Event kinds, in the order a run emits them: ``split``, ``baseline``, then per iteration ``iteration``,
``reflection`` (or ``reflection_failed``), ``candidate`` (scored or rejected at the minibatch gate) and
``new_best``; finally ``stopped`` (with the reason), ``test`` and — when a service saves the winner — ``saved``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from optimizer.candidates import Candidate, CandidateStatus, Origin

__all__ = ["MAX_MESSAGES", "CandidatePoint", "EventKind", "OptimizationEvent", "OptimizationProgress", "Phase"]

MAX_MESSAGES = 50
Phase = Literal["starting", "baseline", "iterating", "testing", "saving", "done"]
EventKind = Literal[
    "split",
    "baseline",
    "iteration",
    "reflection",
    "reflection_failed",
    "candidate",
    "new_best",
    "stopped",
    "test",
    "saved",
]


class CandidatePoint(BaseModel):
    """One candidate as the progress view and the score picture show it."""

    id: str
    parent_id: str | None = None
    iteration: int
    origin: Origin
    status: CandidateStatus
    minibatch_score: float | None = None
    parent_minibatch_score: float | None = None
    validation_score: float | None = None
    length: int = 0

    @classmethod
    def of(cls, candidate: Candidate) -> CandidatePoint:
        return cls.model_validate(candidate.model_dump(include=set(cls.model_fields)))


class OptimizationEvent(BaseModel):
    """Something the loop did; ``message`` is for people, ``data`` for programs."""

    kind: EventKind
    iteration: int = 0
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class OptimizationProgress(BaseModel):
    """Where a run is: phase, iteration, rollouts spent, scores so far, every candidate, the latest messages."""

    phase: Phase = "starting"
    iteration: int = 0
    max_iterations: int = 0
    search_rollouts: int = 0
    budget_rollouts: int | None = None
    baseline_score: float | None = None
    best_score: float | None = None
    best_candidate_id: str | None = None
    best_by_iteration: list[float] = Field(default_factory=list, description="Best validation score after each.")
    stale_iterations: int = 0
    stop_reason: str | None = None
    candidates: list[CandidatePoint] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list, description=f"The latest {MAX_MESSAGES} event messages.")

    def note(self, event: OptimizationEvent) -> None:
        self.messages = [*self.messages, event.message][-MAX_MESSAGES:]
