"""The state of one search: every candidate, what each did on training examples, and the rollout budget.

:class:`SearchState` is internal to :mod:`optimizer.loop`; it keeps the split's parts apart so the loop's
steps take train examples (minibatches, demonstrations, reflection) and validation examples (selection) from
one place, and never the test part, which only :mod:`optimizer.testing` reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from optimizer.candidates import Candidate, CandidatePool, Origin
from optimizer.evaluation import Rollouts, Usage, row_failed
from optimizer.progress import OptimizationProgress
from optimizer.prompt import CandidatePrompt, PromptFrame
from optimizer.result import IterationRecord
from optimizer.split import DatasetSplit, Part
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow, EvaluationSummary

__all__ = ["FAILURE_WEIGHTS", "SearchState"]

# Minibatch weights: an example the parent failed is drawn 3x as readily as one it passed; unseen ones 2x.
FAILURE_WEIGHTS = {"failed": 3.0, "unseen": 2.0, "passed": 1.0}


@dataclass
class SearchState:
    split: DatasetSplit
    examples: dict[str, Example]
    rng: random.Random
    usage: Usage
    rollouts: Rollouts
    progress: OptimizationProgress
    pool: CandidatePool = field(default_factory=CandidatePool)
    candidates: list[Candidate] = field(default_factory=list)
    history: list[IterationRecord] = field(default_factory=list)
    summaries: dict[str, dict[str, EvaluationSummary]] = field(default_factory=dict)
    experiment_urls: dict[str, str | None] = field(default_factory=dict)
    # candidate id → training example id → whether it failed there (minibatch runs only)
    outcomes: dict[str, dict[str, bool]] = field(default_factory=dict)

    def part(self, part: Part) -> list[Example]:
        """The examples of one part of the split, in the split's order."""
        return [self.examples[example_id] for example_id in self.split.ids(part)]

    def new_candidate(
        self,
        frame: PromptFrame,
        prompt: CandidatePrompt,
        *,
        origin: Origin,
        iteration: int,
        parent: Candidate | None = None,
        diagnosis: str | None = None,
    ) -> Candidate:
        """A new candidate ``c0``, ``c1``… (``c0`` is the starting prompt), kept in :attr:`candidates`."""
        candidate = Candidate(
            id=f"c{len(self.candidates)}",
            parent_id=parent.id if parent else None,
            iteration=iteration,
            origin=origin,
            prompt=prompt,
            length=frame.length(prompt),
            diagnosis=diagnosis,
        )
        self.candidates.append(candidate)
        return candidate

    def minibatch(self, parent: Candidate, size: int) -> list[Example]:
        """Up to ``size`` training examples, drawn without replacement with :data:`FAILURE_WEIGHTS` by what the
        parent did on them (Efraimidis-Spirakis keys ``u ** (1 / w)``, largest first)."""
        known = self.outcomes.get(parent.id, {})
        keyed = []
        for example in self.part("train"):
            failed = known.get(example.id)
            weight = FAILURE_WEIGHTS["unseen" if failed is None else "failed" if failed else "passed"]
            keyed.append((self.rng.random() ** (1.0 / weight), example.id))
        keyed.sort(reverse=True)
        return [self.examples[example_id] for _, example_id in keyed[:size]]

    def remember(self, candidate: Candidate, rows: list[EvaluatedRow]) -> None:
        """Note which training examples ``candidate`` failed (an example fails when any of its runs does)."""
        seen = self.outcomes.setdefault(candidate.id, {})
        for row in rows:
            example_id = str(row.example_id)
            seen[example_id] = seen.get(example_id, False) or row_failed(row)

    def passing(self, candidate: Candidate) -> set[str]:
        """The training examples ``candidate`` passed on its minibatches."""
        return {example_id for example_id, failed in self.outcomes.get(candidate.id, {}).items() if not failed}

    def affordable(self, rollouts: int, budget: int | None) -> bool:
        """Whether ``rollouts`` more search rollouts stay within ``budget``."""
        return budget is None or self.usage.search_rollouts + rollouts <= budget

    def note_best(self, candidate: Candidate) -> None:
        self.progress.best_score = candidate.validation_score
        self.progress.best_candidate_id = candidate.id
