"""The optimization loop: :class:`PromptOptimization` and its ``run``.

Shaped after Datadog's prompt optimization::

    optimization = PromptOptimization(
        "triage", examples, evaluators=[ExactMatch(name="intent")],
        config={"prompt": version, "provider": "local"}, providers=registry, max_iterations=5, seed=7,
    )
    result = optimization.run(jobs=4)
    print(result.summary())

What ``run`` does:

1. split the dataset (:mod:`optimizer.split`) — reflection and few-shot selection see only train, selection
   only validation, and test is scored once at the end;
2. score the starting prompt on validation (the baseline; its rollouts are the least a budget must allow);
3. each iteration: choose a parent (the best so far, or by the Pareto front), run it on a minibatch of train
   examples drawn with a bias toward those it failed (weights 3 failed / 2 unseen / 1 passed), then propose
   candidates — ``reflection``: the reasoning model reads the failures and proposes ``num_prompts`` new
   instruction(s) (:mod:`optimizer.reflection`); ``fewshot``: the parent's instruction with a fresh set of
   demonstrations (:mod:`optimizer.fewshot`). A candidate is scored on validation only if it beats its parent
   on the same minibatch (:func:`~optimizer.iteration.passes_gate`: a higher mean score, or the same — above 0 —
   with a shorter prompt); ties on validation go to the shorter prompt;
4. stop on ``max_iterations``, the rollout budget (checked before each run, so it is never exceeded),
   ``patience`` iterations without a new best, ``stopping_condition(best validation summaries)`` or
   :meth:`PromptOptimization.cancel`;
5. score the starting prompt and the winner on test (outside the budget) with a paired bootstrap CI.

A reasoning call that fails (provider error, malformed or unusable answer) is recorded on its iteration as a
failed proposal and the loop goes on; so does a task call that fails (an errored row, scoring 0). Only a
baseline where *every* task call failed stops the run (:class:`~optimizer.errors.TaskFailed`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optimizer import config as configuration
from optimizer.candidates import Candidate, ParentSelection
from optimizer.errors import OptimizationCancelled, OptimizerInvalid, TaskFailed
from optimizer.evaluation import Rollouts, RolloutsCancelled, Task, Usage, example_scores
from optimizer.iteration import run_iteration
from optimizer.models import ProviderTask, ReasoningModel
from optimizer.progress import CandidatePoint, EventKind, OptimizationEvent, OptimizationProgress
from optimizer.prompt import PromptFrame
from optimizer.recording import ExperimentRecorder
from optimizer.result import OptimizationResult
from optimizer.search import SearchState
from optimizer.split import DatasetSplit, SplitSpec, default_label, split_dataset
from optimizer.testing import score_test
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow, EvaluationSummary, Evaluator, ExactMatch, as_evaluator, labelize
from replay.evaluators import compute_score as default_compute_score
from replay.evaluators.base import describe
from replay.experiments.api import ExperimentResult
from replay.experiments.tracing import ExperimentTracer
from replay.model_call import DEFAULT_TIMEOUT_SECONDS
from replay.providers import ProviderRegistry

__all__ = ["STRATEGIES", "OptimizationTask", "PromptOptimization"]

STRATEGIES = ("reflection", "fewshot")
OptimizationTask = Callable[[str, str, dict[str, Any]], Any]
_log = logging.getLogger(__name__)


class PromptOptimization:
    """One optimization: what to optimize, how to judge it, and the search settings (see the module docstring).

    The first eleven parameters are Datadog's: ``task(input, config)`` (default: ``config["prompt"]`` through
    its provider, :class:`~optimizer.models.ProviderTask`), ``optimization_task(system_prompt, user_prompt,
    config)`` returning the reasoning model's answer (default: :class:`~optimizer.models.ReasoningModel`),
    ``evaluators`` (default: ``exact_match``), ``summary_evaluators``, ``compute_score(summaries)`` (default:
    the first evaluator's pass rate, else mean score), ``labelization_function(row)`` (default:
    :func:`~replay.evaluators.labelize`), ``config`` (keys: :mod:`optimizer.config`), ``max_iterations``,
    ``stopping_condition(best validation summaries)``, ``dataset_split`` (:mod:`optimizer.split`) and ``seed``.
    The keyword-only rest: ``patience``, ``budget_rollouts`` (search rollouts), ``minibatch_size``,
    ``strategies``, ``parent_selection`` (``best``/``pareto``), ``num_prompts`` per reflection, ``demos`` per
    few-shot candidate (default: one per label), ``providers`` (to resolve provider names), ``retries`` and
    ``timeout`` of each rollout, ``tracer`` (rollouts traced as experiment runs), ``recorder`` (validation and
    test runs stored as experiments), ``on_event(event, progress)`` and ``label_of`` (the split's labels).
    Bad settings raise :class:`~optimizer.errors.OptimizerInvalid` here or at the start of :meth:`run`,
    before any rollout.
    """

    def __init__(
        self,
        name: str,
        dataset: Sequence[Example | Mapping[str, Any]],
        task: Task | None = None,
        optimization_task: OptimizationTask | None = None,
        evaluators: Sequence[Evaluator | Callable[..., Any]] | None = None,
        summary_evaluators: Sequence[Any] = (),
        compute_score: Callable[[Mapping[str, EvaluationSummary]], float] | None = None,
        labelization_function: Callable[[EvaluatedRow], str] | None = None,
        config: Mapping[str, Any] | None = None,
        max_iterations: int = 5,
        stopping_condition: Callable[[Mapping[str, EvaluationSummary]], bool] | None = None,
        dataset_split: SplitSpec = True,
        seed: int = 0,
        *,
        patience: int | None = None,
        budget_rollouts: int | None = None,
        minibatch_size: int = 8,
        strategies: Sequence[str] = STRATEGIES,
        parent_selection: ParentSelection = "best",
        num_prompts: int = 1,
        demos: int | None = None,
        providers: ProviderRegistry | None = None,
        retries: int = 3,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        tracer: ExperimentTracer | None = None,
        recorder: ExperimentRecorder | None = None,
        on_event: Callable[[OptimizationEvent, OptimizationProgress], None] | None = None,
        label_of: Callable[[Example], str | None] = default_label,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise OptimizerInvalid("an optimization needs a name")
        self.name = name
        self.examples = configuration.as_examples(dataset)
        self.config = dict(config or {})
        prompt, self.version = configuration.starting_prompt(self.config)
        self.frame = PromptFrame(prompt)
        self.task: Task = task or configuration.default_task(self.config, self.version, providers)
        self.strategies = _check_strategies(strategies)
        self.optimization_task: OptimizationTask | None = optimization_task
        if optimization_task is None and "reflection" in self.strategies:
            self.optimization_task = configuration.reasoning_model(self.config, self.version, providers, self.task)
        self.evaluators = [as_evaluator(e) for e in evaluators] if evaluators else [ExactMatch(name="exact_match")]
        self.summary_evaluators = list(summary_evaluators)
        self.compute_score = compute_score or default_compute_score
        self.labelization = labelization_function or labelize
        self.max_iterations = _at_least(max_iterations, 0, "max_iterations")
        self.stopping_condition = stopping_condition
        self.dataset_split = dataset_split
        self.seed = seed
        self.patience = None if patience is None else _at_least(patience, 1, "patience")
        self.budget_rollouts = None if budget_rollouts is None else _at_least(budget_rollouts, 1, "budget_rollouts")
        self.minibatch_size = _at_least(minibatch_size, 1, "minibatch_size")
        self.parent_selection: ParentSelection = _check_selection(parent_selection)
        self.num_prompts = _at_least(num_prompts, 1, "num_prompts")
        self.demos = None if demos is None else _at_least(demos, 1, "demos")
        self.runs = _at_least(self.config.get("runs", 1), 1, 'config["runs"]')
        self.retries = _at_least(retries, 0, "retries")
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise OptimizerInvalid(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.timeout = float(timeout)
        self.tracer = tracer
        self.recorder = recorder
        self.on_event = on_event
        self.label_of = label_of
        self._cancel = threading.Event()

    # -- public -----------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask a running ``run`` to stop at its next step; it returns what it found so far, without a test score."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def split(self) -> DatasetSplit:
        """The train/validation/test split this optimization uses (deterministic in ``seed``)."""
        return split_dataset(self.examples, self.dataset_split, seed=self.seed, label_of=self.label_of)

    def settings(self) -> dict[str, Any]:
        """The search settings, as recorded in the result and in a saved winner's lineage."""
        task = self.task
        reasoning = self.optimization_task
        return {
            "max_iterations": self.max_iterations,
            "budget_rollouts": self.budget_rollouts,
            "patience": self.patience,
            "minibatch_size": self.minibatch_size,
            "strategies": list(self.strategies),
            "parent_selection": self.parent_selection,
            "num_prompts": self.num_prompts,
            "demos": self.demos,
            "runs": self.runs,
            "seed": self.seed,
            "dataset_split": self.dataset_split if isinstance(self.dataset_split, bool | tuple) else "explicit",
            "evaluators": [evaluator.name for evaluator in self.evaluators],
            "dataset": {"name": self.config.get("dataset_name"), "version": self.config.get("dataset_version")},
            "task": _describe_model(task),
            "reflection": _describe_model(reasoning) if reasoning is not None else None,
        }

    def run(self, *, jobs: int = 1) -> OptimizationResult:
        """Run the optimization (see the module docstring) with ``jobs`` rollouts at a time.

        :class:`~optimizer.errors.OptimizationCancelled` when cancelled before the starting prompt was scored;
        a later cancel returns the result so far (``stop_reason`` ``cancelled``, no test score).
        """
        started = time.monotonic()
        usage = Usage()
        if isinstance(self.optimization_task, ReasoningModel):
            self.optimization_task.bind_usage(usage)
        split = self.split()
        with self._rollouts(usage, _at_least(jobs, 1, "jobs")) as rollouts:
            state = SearchState(
                split=split,
                examples={example.id: example for example in self.examples},
                rng=random.Random(self.seed),
                usage=usage,
                rollouts=rollouts,
                progress=OptimizationProgress(max_iterations=self.max_iterations, budget_rollouts=self.budget_rollouts),
            )
            sizes = split.sizes()
            self.emit(
                state,
                "split",
                f"split {sizes['train']} train / {sizes['validation']} validation / "
                f"{sizes['test']} test ({split.method}, seed {split.seed})",
                data=sizes,
            )
            try:
                baseline = self._baseline(state)
            except RolloutsCancelled:
                raise OptimizationCancelled("cancelled before the starting prompt was scored") from None
            stop_reason = self._search(state)
            state.progress.stop_reason = stop_reason
            self.emit(state, "stopped", f"stopped: {stop_reason}", data={"reason": stop_reason})
            best = state.pool.best()
            test = None
            if stop_reason != "cancelled" and split.test:
                state.progress.phase = "testing"
                usage.phase = "test"
                try:
                    test = score_test(self, state, baseline, best)
                except RolloutsCancelled:
                    stop_reason = state.progress.stop_reason = "cancelled"
                else:
                    self.emit(
                        state,
                        "test",
                        f"test: {test.baseline:.3f} → {test.best:.3f} (n={test.n})",
                        data=test.model_dump(mode="json"),
                    )
            state.progress.phase = "done"
            return self._result(state, stop_reason, best, test, time.monotonic() - started)

    def _rollouts(self, usage: Usage, jobs: int) -> Rollouts:
        return Rollouts(
            task=self.task,
            frame=self.frame,
            config=self.config,
            evaluators=self.evaluators,
            summary_evaluators=self.summary_evaluators,
            usage=usage,
            jobs=jobs,
            runs=self.runs,
            retries=self.retries,
            timeout=self.timeout,
            tracer=self.tracer,
            cancel=self._cancel,
            dataset=(str(self.config.get("dataset_name") or "local"), self.config.get("dataset_version")),
        )

    # -- steps ------------------------------------------------------------------------------------------------
    def _baseline(self, state: SearchState) -> Candidate:
        state.progress.phase = "baseline"
        validation = state.part("validation")
        needed = state.rollouts.cost(validation)
        if self.budget_rollouts is not None and self.budget_rollouts < needed:
            raise OptimizerInvalid(
                f"budget_rollouts={self.budget_rollouts} does not cover the baseline validation run "
                f"({len(validation)} examples x {self.runs} run(s) = {needed} rollouts)"
            )
        baseline = state.new_candidate(self.frame, self.frame.starting(), origin="baseline", iteration=0)
        rows = self.validate(state, baseline)
        if rows and all(row.error is not None for row in rows):
            raise TaskFailed(f"the task failed on every validation example, e.g.: {rows[0].error}")
        state.pool.add(baseline)
        state.progress.baseline_score = baseline.validation_score
        state.note_best(baseline)
        self.emit(state, "baseline", f"baseline {baseline.id}: validation {baseline.validation_score:.3f}")
        return baseline

    def validate(self, state: SearchState, candidate: Candidate) -> list[EvaluatedRow]:
        """Score ``candidate`` on the validation part (and record the run as an experiment)."""
        experiment = state.rollouts.run(
            candidate.prompt,
            state.part("validation"),
            name=self._run_name(candidate, "validation"),
            metadata=self.run_metadata(candidate, "validation"),
        )
        summaries = experiment.summary.evaluators
        candidate.validation_score = float(self.compute_score(summaries))
        rows = experiment.rows()
        candidate.example_scores = example_scores(rows)
        state.summaries[candidate.id] = summaries
        self.record(state, candidate, "validation", experiment, candidate.validation_score)
        return rows

    def minibatch(self, state: SearchState, candidate: Candidate, batch: list[Example]) -> list[EvaluatedRow]:
        """Run ``candidate`` on a minibatch of training examples (not recorded as an experiment)."""
        rows = state.rollouts.run(candidate.prompt, batch, name=self._run_name(candidate, "minibatch")).rows()
        state.remember(candidate, rows)
        return rows

    def _run_name(self, candidate: Candidate, part: str) -> str:
        return f"{self.name} · {candidate.id} · {part}"

    def run_metadata(self, candidate: Candidate, part: str) -> dict[str, Any]:
        """What an experiment of this optimization records about itself."""
        return {"optimization": self.name, "candidate": candidate.id, "origin": candidate.origin, "part": part}

    def record(
        self, state: SearchState, candidate: Candidate, part: str, experiment: ExperimentResult, score: float
    ) -> str | None:
        """Store a run through the recorder; the experiment id, or None (no recorder, or it failed)."""
        if self.recorder is None:
            return None
        try:
            ref = self.recorder.record(
                optimization=self.name,
                candidate=candidate,
                prompt=self.frame.for_task(candidate.prompt),
                part=part,
                experiment=experiment,
                score=score,
            )
        except Exception as error:
            _log.warning("could not record the %s run of %s", part, candidate.id, exc_info=True)
            state.progress.note(
                OptimizationEvent(kind="candidate", message=f"could not store the {part} run: {describe(error)}")
            )
            return None
        if part == "validation":
            candidate.experiment_id, candidate.experiment_url = ref.id, ref.url
        state.experiment_urls[ref.id] = ref.url
        return ref.id

    def _search(self, state: SearchState) -> str:
        if self.stop_condition_met(state):
            return "stopping_condition"
        stale = 0
        for iteration in range(1, self.max_iterations + 1):
            if self.cancelled:
                return "cancelled"
            state.progress.phase = "iterating"
            state.progress.iteration = iteration
            try:
                reason, improved = run_iteration(self, state, iteration)
            except RolloutsCancelled:
                return "cancelled"
            if reason is not None:
                return reason
            stale = 0 if improved else stale + 1
            state.progress.stale_iterations = stale
            if self.patience is not None and stale >= self.patience:
                return "patience"
        return "max_iterations"

    def stop_condition_met(self, state: SearchState) -> bool:
        """Whether the caller's ``stopping_condition`` holds for the best candidate's validation summaries."""
        if self.stopping_condition is None:
            return False
        return bool(self.stopping_condition(state.summaries[state.pool.best().id]))

    def emit(
        self,
        state: SearchState,
        kind: EventKind,
        message: str,
        *,
        iteration: int = 0,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Report an event (and the progress it leaves) to ``on_event``; a failing watcher is logged, not raised."""
        progress = state.progress
        progress.search_rollouts = state.usage.search_rollouts
        progress.candidates = [CandidatePoint.of(candidate) for candidate in state.candidates]
        event = OptimizationEvent(kind=kind, iteration=iteration, message=message, data=data or {})
        progress.note(event)
        if self.on_event is not None:
            try:
                self.on_event(event, progress.model_copy(deep=True))
            except Exception:  # a watcher's failure must not end the search
                _log.warning("the on_event callback failed on %s", kind, exc_info=True)

    def _result(
        self, state: SearchState, stop_reason: str, best: Candidate, test: Any, wall_seconds: float
    ) -> OptimizationResult:
        baseline = state.candidates[0]
        url = None
        if test is not None and test.best_experiment_id is not None:
            url = state.experiment_urls.get(test.best_experiment_id)
        return OptimizationResult(
            name=self.name,
            stop_reason=stop_reason,
            best_prompt=self.frame.for_task(best.prompt),
            best_candidate_id=best.id,
            best_score=float(best.validation_score or 0.0),
            baseline_score=float(baseline.validation_score or 0.0),
            best_iteration=best.iteration,
            total_iterations=len(state.history),
            test_score=test,
            best_experiment_url=url or best.experiment_url,
            split=state.split,
            history=state.history,
            candidates=state.candidates,
            prompts={c.id: self.frame.for_task(c.prompt) for c in state.candidates},
            usage=state.usage.snapshot(),
            budget_rollouts=self.budget_rollouts,
            wall_seconds=round(wall_seconds, 3),
            settings=self.settings(),
        )


def _at_least(value: object, low: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptimizerInvalid(f"{what} must be an integer of at least {low}, not {value!r}")
    return value


def _check_strategies(strategies: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(strategies))
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown or not chosen:
        raise OptimizerInvalid(f"strategies must be some of {', '.join(STRATEGIES)}; got {list(strategies)}")
    return chosen


def _check_selection(selection: str) -> ParentSelection:
    if selection not in ("best", "pareto"):
        raise OptimizerInvalid(f"parent_selection must be 'best' or 'pareto', not {selection!r}")
    return "best" if selection == "best" else "pareto"


def _describe_model(model: object) -> dict[str, Any]:
    if isinstance(model, ProviderTask | ReasoningModel):
        return {"provider": model.provider.name, "model": model.model, "parameters": model.parameters}
    return {"callable": getattr(model, "__qualname__", type(model).__name__)}
