"""The outcome of an optimization: :class:`OptimizationResult` and the records it is made of.

``best_*`` are about validation (what selection saw); ``test_score`` is the held-out estimate: the starting
prompt and the winner scored once each on the test part, with a paired bootstrap interval on the per-example
difference and McNemar's test on pass/fail (:mod:`replay.stats`). ``usage`` counts the rollouts (search:
baseline, minibatches and validations, which the budget limits; test: the final scoring) and what the models
spent. The result is a pydantic model: it round-trips through JSON, as the REST API stores it.
"""

from __future__ import annotations

import io
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console, Group
from rich.table import Table

from optimizer.candidates import Candidate
from optimizer.evaluation import UsageRecord
from optimizer.progress import CandidatePoint
from optimizer.split import DatasetSplit
from replay.stats import BootstrapInterval, McNemarResult

__all__ = ["IterationRecord", "OptimizationResult", "ReflectionRecord", "TestScore"]


class ReflectionRecord(BaseModel):
    """One call of the reasoning model: the exact prompts sent, the answer, and what came of it."""

    system: str
    user: str
    example_ids: list[str] = Field(description="The (training) examples the prompts show.")
    answer: str | None = None
    diagnosis: str | None = None
    proposed: int = 0
    refused: list[str] = Field(default_factory=list)
    error: str | None = Field(None, description="Why no candidate came of it (provider error, unusable answer).")


class IterationRecord(BaseModel):
    """One iteration: its parent, minibatch, reflection, the candidates it made, and the best after it."""

    iteration: int
    parent_id: str
    minibatch: list[str] = Field(description="The training example ids of the minibatch.")
    parent_minibatch_score: float
    reflection: ReflectionRecord | None = None
    candidate_ids: list[str] = Field(default_factory=list)
    best_id: str
    best_score: float
    improved: bool
    search_rollouts: int = Field(description="Search rollouts spent when the iteration ended.")
    note: str | None = None


class TestScore(BaseModel):
    """Starting prompt vs winner on the held-out test part."""

    n: int = Field(description="Test examples.")
    baseline: float
    best: float
    delta: float
    interval: BootstrapInterval | None = Field(None, description="95% paired bootstrap CI on the mean delta.")
    mcnemar: McNemarResult | None = None
    baseline_experiment_id: str | None = None
    best_experiment_id: str | None = None


class OptimizationResult(BaseModel):
    """Everything an optimization found and spent (see the module docstring)."""

    name: str
    stop_reason: str
    best_prompt: Any = Field(description="The winner as the task gets it: a chat template, or a text.")
    best_candidate_id: str
    best_score: float
    baseline_score: float
    best_iteration: int
    total_iterations: int
    test_score: TestScore | None = None
    best_experiment_url: str | None = None
    split: DatasetSplit
    history: list[IterationRecord] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    prompts: dict[str, Any] = Field(default_factory=dict, description="Candidate id → its prompt as the task got it.")
    usage: UsageRecord
    budget_rollouts: int | None = None
    wall_seconds: float
    settings: dict[str, Any] = Field(default_factory=dict)
    saved_version: str | None = Field(None, description="NAME@VERSION the winner was saved as, if it was.")

    def get_history(self) -> list[IterationRecord]:
        return list(self.history)

    def get_score_history(self) -> list[float]:
        """The best validation score after the baseline (index 0) and after each iteration."""
        return [self.baseline_score, *(record.best_score for record in self.history)]

    def get_prompt_history(self) -> list[dict[str, Any]]:
        """Every candidate in the order tried: id, iteration, origin, parent, status, scores and prompt."""
        return [
            {
                "id": c.id,
                "iteration": c.iteration,
                "origin": c.origin,
                "parent_id": c.parent_id,
                "status": c.status,
                "minibatch_score": c.minibatch_score,
                "validation_score": c.validation_score,
                "prompt": self.prompts.get(c.id),
            }
            for c in self.candidates
        ]

    def points(self) -> list[CandidatePoint]:
        return [CandidatePoint.of(candidate) for candidate in self.candidates]

    def summary(self, *, width: int = 110) -> str:
        """The summary tables as plain text."""
        buffer = io.StringIO()
        Console(file=buffer, width=width, color_system=None, force_terminal=False).print(self.summary_view())
        return buffer.getvalue()

    def summary_view(self) -> Group:
        """The summary tables as rich renderables (for a terminal)."""
        return Group(self._overview(), self._candidates())

    def _overview(self) -> Table:
        table = Table(title=f"optimization {self.name}", title_justify="left", show_header=False)
        table.add_column("", style="bold")
        table.add_column("")
        sizes = self.split.sizes()
        table.add_row("split", f"train {sizes['train']} · validation {sizes['validation']} · test {sizes['test']}")
        table.add_row(
            "validation score", f"{self.baseline_score:.3f} → {self.best_score:.3f} ({self.best_candidate_id})"
        )
        table.add_row("test score", _test_text(self.test_score))
        table.add_row("iterations", f"{self.total_iterations} (best found in iteration {self.best_iteration})")
        table.add_row("stopped because", self.stop_reason)
        usage = self.usage
        budget = f" of {self.budget_rollouts}" if self.budget_rollouts is not None else ""
        table.add_row("rollouts", f"{usage.search_rollouts}{budget} search + {usage.test_rollouts} test")
        table.add_row("reflection calls", f"{usage.reflection_calls} ({usage.reflection_failures} unusable or failed)")
        tokens = f"task {usage.task_input_tokens}+{usage.task_output_tokens}"
        tokens += f", reflection {usage.reflection_input_tokens}+{usage.reflection_output_tokens}"
        cost = "unknown" if usage.cost is None else f"${usage.cost:.4f}"
        table.add_row("tokens (in+out)", f"{tokens}; cost {cost}")
        table.add_row("wall time", f"{self.wall_seconds:.1f} s")
        if self.saved_version:
            table.add_row("saved as", self.saved_version)
        if self.best_experiment_url:
            table.add_row("best experiment", self.best_experiment_url)
        return table

    def _candidates(self) -> Table:
        table = Table(title="candidates", title_justify="left")
        for column in ("id", "iter", "origin", "parent", "minibatch", "validation", "status", "demos", "length"):
            table.add_column(column, justify="right" if column in ("iter", "validation", "demos", "length") else "left")
        for c in self.candidates:
            minibatch = (
                "" if c.minibatch_score is None else f"{c.parent_minibatch_score or 0:.2f} → {c.minibatch_score:.2f}"
            )
            validation = "" if c.validation_score is None else f"{c.validation_score:.3f}"
            mark = " ★" if c.id == self.best_candidate_id else ""
            table.add_row(
                c.id + mark,
                str(c.iteration),
                c.origin,
                c.parent_id or "",
                minibatch,
                validation,
                c.status,
                str(len(c.prompt.demos)),
                str(c.length),
            )
        return table


def _test_text(test: TestScore | None) -> str:
    if test is None:
        return "no test part (dataset_split=False or a test fraction of 0)"
    text = f"{test.baseline:.3f} → {test.best:.3f} (Δ {test.delta:+.3f}, n={test.n}"
    if test.interval is not None:
        text += f", 95% CI [{test.interval.low:+.3f}, {test.interval.high:+.3f}]"
    if test.mcnemar is not None:
        text += f", McNemar p={test.mcnemar.p_value:.3g}"
    return text + ")"
