"""The held-out estimate: the starting prompt and the winner scored once each on the test part.

Both scores are the optimization's ``compute_score`` over the test rows. The interval is a paired bootstrap
(10,000 resamples, seeded with the optimization's seed) on the per-example score difference, where an example's
score is its mean :func:`~optimizer.evaluation.row_score` over its runs (a task error counts as 0); McNemar's
test compares pass/fail per example (passed: a per-example score of at least 0.5). When the winner is the
starting prompt, the test part is run once and the delta is 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optimizer.candidates import Candidate
from optimizer.evaluation import example_scores
from optimizer.result import TestScore
from replay.stats import mcnemar, paired, paired_bootstrap

if TYPE_CHECKING:
    from optimizer.loop import PromptOptimization
    from optimizer.search import SearchState

__all__ = ["PASS_AT", "score_test"]

PASS_AT = 0.5


def score_test(optimization: PromptOptimization, state: SearchState, baseline: Candidate, best: Candidate) -> TestScore:
    """Run ``baseline`` and ``best`` on the test part and compare them (see the module docstring)."""
    test = state.part("test")
    runs = {}
    for candidate in dict.fromkeys([baseline.id, best.id]):
        chosen = baseline if candidate == baseline.id else best
        experiment = state.rollouts.run(
            chosen.prompt,
            test,
            name=f"{optimization.name} · {chosen.id} · test",
            metadata=optimization.run_metadata(chosen, "test"),
        )
        score = float(optimization.compute_score(experiment.summary.evaluators))
        experiment_id = optimization.record(state, chosen, "test", experiment, score)
        runs[candidate] = (score, example_scores(experiment.rows()), experiment_id)
    base_score, base_examples, base_experiment = runs[baseline.id]
    best_score, best_examples, best_experiment = runs[best.id]
    keys, before, after = paired(base_examples, best_examples)
    interval = paired_bootstrap(before, after, seed=optimization.seed) if keys else None
    test_mcnemar = mcnemar([b >= PASS_AT for b in before], [a >= PASS_AT for a in after]) if keys else None
    return TestScore(
        n=len(keys),
        baseline=base_score,
        best=best_score,
        delta=best_score - base_score,
        interval=interval,
        mcnemar=test_mcnemar,
        baseline_experiment_id=base_experiment,
        best_experiment_id=best_experiment,
    )
