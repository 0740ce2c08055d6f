"""Saving the winner to the prompt hub as a new version, with its lineage.

:func:`save_winner` pushes the winning prompt as a new version of the prompt the optimization started from:
the winner's template (instruction and demonstrations in place), and the starting version's model, provider,
parameters, tools and ``response_format`` unchanged. Its ``metadata`` carries the lineage under ``optimizer``:
the run's id and name, the parent version, the dataset (and version), the scores (validation and test, with
the interval), the experiment ids of the winner's runs, how many rollouts it took and every optimizer setting.

Nothing is saved when no candidate beat the starting prompt (the result says so). A tag is moved only when
asked; ``production`` only when asked for by name — a winner is never tagged production on its own, and the
tags of the starting version are not carried over.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from optimizer.errors import OptimizerInvalid
from optimizer.result import OptimizationResult
from replay.prompts.hub import PromptHub
from replay.prompts.models import PromptVersion, PromptVersionInput, check_tag_name

__all__ = ["SavedWinner", "lineage", "save_winner"]


class SavedWinner(BaseModel):
    """What was saved: the new version (None when nothing beat the start), the tag moved, and why."""

    version: PromptVersion | None = None
    tag: str | None = None
    created: bool = False
    note: str


def lineage(result: OptimizationResult, base: PromptVersion, *, run_id: str | None = None) -> dict[str, Any]:
    """The ``optimizer`` metadata of a saved winner."""
    best = next(c for c in result.candidates if c.id == result.best_candidate_id)
    test = result.test_score
    return {
        "run_id": run_id,
        "name": result.name,
        "parent_version": base.ref,
        "parent_content_hash": base.content_hash,
        "dataset": result.settings.get("dataset"),
        "candidate": {
            "id": best.id,
            "origin": best.origin,
            "iteration": best.iteration,
            "demos": len(best.prompt.demos),
        },
        "scores": {
            "validation_baseline": result.baseline_score,
            "validation_best": result.best_score,
            "test_baseline": test.baseline if test else None,
            "test_best": test.best if test else None,
            "test_delta_ci": [test.interval.low, test.interval.high] if test and test.interval else None,
            "test_examples": test.n if test else 0,
        },
        "experiments": {
            "validation": best.experiment_id,
            "test": test.best_experiment_id if test else None,
            "test_baseline": test.baseline_experiment_id if test else None,
        },
        "rollouts": result.usage.rollouts,
        "settings": result.settings,
    }


def save_winner(
    hub: PromptHub,
    result: OptimizationResult,
    base: PromptVersion,
    *,
    tag: str | None = None,
    run_id: str | None = None,
) -> SavedWinner:
    """Push the winner as a new version of ``base``'s prompt and move ``tag`` to it (see the module docstring).

    :class:`OptimizerInvalid` for a malformed tag (checked before anything is written) or a winner that is not
    a chat template.
    """
    if tag is not None:
        try:
            check_tag_name(tag)
        except ValueError as exc:
            raise OptimizerInvalid(str(exc)) from None
    baseline = result.candidates[0]
    if result.best_candidate_id == baseline.id:
        return SavedWinner(note="no candidate beat the starting prompt on validation: nothing was saved")
    if not isinstance(result.best_prompt, list):
        raise OptimizerInvalid("only a chat-template winner can be saved as a prompt version")
    test = result.test_score
    gain = f"; test {test.baseline:.3f} → {test.best:.3f}" if test else ""
    data = PromptVersionInput(
        name=base.prompt_name,
        template=result.best_prompt,
        model_provider=base.model_provider,
        model_name=base.model_name,
        invocation_parameters=base.invocation_parameters,
        tools=base.tools,
        response_format=base.response_format,
        metadata={**base.metadata, "optimizer": lineage(result, base, run_id=run_id)},
        commit_message=(
            f"optimizer {result.name}: {result.best_candidate_id} from {base.ref}, validation "
            f"{result.baseline_score:.3f} → {result.best_score:.3f}{gain}"
        ),
    )
    version, created = hub.push(data)
    if tag is not None:
        hub.move_tag(version.prompt_name, tag, version.version, note=f"optimizer {result.name} ({run_id or 'local'})")
        version = hub.get(version.prompt_name, version=version.version)
    return SavedWinner(version=version, tag=tag, created=created, note=f"saved as {version.ref}")
