"""The candidate pool: every prompt tried, its validation scores per example, the best one, and parent choice.

A :class:`Candidate` is one prompt the loop tried, with where it came from (``baseline``, ``reflection`` or
``fewshot``), its parent, its minibatch scores and — once it passed the minibatch gate — its validation score
and per-example validation scores. The :class:`CandidatePool` holds the validated ones.

- **Best** (:meth:`CandidatePool.best`): the highest validation score; a tie goes to the shorter prompt, then to
  the earlier candidate.
- **Parent choice** (:meth:`CandidatePool.choose_parent`): ``best`` — always the best so far (best-from-best); or
  ``pareto`` — a candidate drawn from those that reach the top score on at least one validation example
  (GEPA's Pareto front), with a probability proportional to how many examples it tops. Examples no candidate
  scores above 0 on are left out: they tell candidates apart by nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from optimizer.prompt import CandidatePrompt

__all__ = ["Candidate", "CandidatePool", "CandidateStatus", "Origin", "ParentSelection"]

Origin = Literal["baseline", "reflection", "fewshot"]
CandidateStatus = Literal["validated", "rejected", "over_budget", "failed"]
ParentSelection = Literal["best", "pareto"]
_EPSILON = 1e-12


class Candidate(BaseModel):
    """One prompt the loop tried and what it scored.

    ``status``: ``validated`` (passed the minibatch gate and was scored on validation), ``rejected`` (did not
    beat its parent on the minibatch), ``over_budget`` (the rollout budget ran out before it could be scored),
    ``failed`` (its runs could not be scored; ``error`` says why).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    parent_id: str | None = None
    iteration: int = Field(ge=0, description="0 for the starting prompt.")
    origin: Origin
    prompt: CandidatePrompt
    length: int = Field(ge=0, description="Characters of instruction and demonstrations; breaks ties.")
    status: CandidateStatus = "validated"
    diagnosis: str | None = None
    minibatch_score: float | None = None
    parent_minibatch_score: float | None = None
    validation_score: float | None = None
    example_scores: dict[str, float] = Field(default_factory=dict, description="Validation score per example id.")
    experiment_id: str | None = None
    experiment_url: str | None = None
    error: str | None = None

    def beats(self, other: Candidate) -> bool:
        """Whether this candidate should replace ``other`` as the best: a higher validation score, or the same
        score with a shorter prompt."""
        mine, theirs = self.validation_score, other.validation_score
        if mine is None:
            return False
        if theirs is None or mine > theirs + _EPSILON:
            return True
        return abs(mine - theirs) <= _EPSILON and self.length < other.length


class CandidatePool:
    """The validated candidates, in the order they were scored."""

    def __init__(self) -> None:
        self._candidates: list[Candidate] = []

    def __len__(self) -> int:
        return len(self._candidates)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(list(self._candidates))

    def add(self, candidate: Candidate) -> bool:
        """Add a validated candidate; return whether it is now the best."""
        if candidate.status != "validated" or candidate.validation_score is None:
            raise ValueError(f"candidate {candidate.id} has no validation score to pool")
        previous = self.best() if self._candidates else None
        self._candidates.append(candidate)
        return previous is None or candidate.beats(previous)

    def get(self, candidate_id: str) -> Candidate:
        return next(candidate for candidate in self._candidates if candidate.id == candidate_id)

    def best(self) -> Candidate:
        """The best candidate (see the module docstring); ``LookupError`` when the pool is empty."""
        if not self._candidates:
            raise LookupError("no candidate has been scored yet")
        best = self._candidates[0]
        for candidate in self._candidates[1:]:
            if candidate.beats(best):
                best = candidate
        return best

    def front(self) -> dict[str, int]:
        """Candidate id → how many validation examples it tops (ties count for each), for candidates topping one."""
        examples = {key for candidate in self._candidates for key in candidate.example_scores}
        wins: dict[str, int] = {}
        for example_id in sorted(examples):
            scores = {c.id: c.example_scores[example_id] for c in self._candidates if example_id in c.example_scores}
            top = max(scores.values())
            if top <= 0:
                continue
            for candidate_id, score in scores.items():
                if score >= top - _EPSILON:
                    wins[candidate_id] = wins.get(candidate_id, 0) + 1
        return wins

    def choose_parent(self, selection: ParentSelection, rng: random.Random) -> Candidate:
        """The candidate the next iteration starts from."""
        if selection == "best":
            return self.best()
        wins = self.front()
        if not wins:
            return self.best()
        ids = sorted(wins)
        chosen = rng.choices(ids, weights=[wins[candidate_id] for candidate_id in ids], k=1)[0]
        return self.get(chosen)
