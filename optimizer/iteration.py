"""One iteration of the search (see :mod:`optimizer.loop`): choose a parent, run it on a minibatch, propose
candidates by reflection and by few-shot selection, and put each through the minibatch gate and validation.

The gate (:func:`passes_gate`): a candidate is validated only if its mean score on the parent's minibatch is
higher than the parent's, or the same — above 0 — with a shorter prompt (two prompts that fail the whole
minibatch tell nothing apart). The budget is checked before each run, so a run that would pass
it is not started (the candidate is marked ``over_budget`` and the search stops).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optimizer.candidates import Candidate
from optimizer.evaluation import mean_score, row_failed
from optimizer.fewshot import default_demo_count, select_demonstrations
from optimizer.prompt import CandidatePrompt
from optimizer.reflection import build_reflection, parse_proposal
from optimizer.result import IterationRecord, ReflectionRecord
from optimizer.search import SearchState
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow
from replay.evaluators.base import describe

if TYPE_CHECKING:
    from optimizer.loop import PromptOptimization

__all__ = ["passes_gate", "run_iteration"]

_EPSILON = 1e-12


def run_iteration(opt: PromptOptimization, state: SearchState, iteration: int) -> tuple[str | None, bool]:
    """One iteration; (a stop reason or None, whether the best improved)."""
    parent = state.pool.choose_parent(opt.parent_selection, state.rng)
    batch = state.minibatch(parent, opt.minibatch_size)
    if not state.affordable(state.rollouts.cost(batch), opt.budget_rollouts):
        return "budget", False
    opt.emit(
        state,
        "iteration",
        f"iteration {iteration}: parent {parent.id}, minibatch of {len(batch)}",
        iteration=iteration,
    )
    parent_rows = opt.minibatch(state, parent, batch)
    parent_score = mean_score(parent_rows)
    record = IterationRecord(
        iteration=iteration,
        parent_id=parent.id,
        minibatch=[example.id for example in batch],
        parent_minibatch_score=parent_score,
        best_id=parent.id,
        best_score=0.0,
        improved=False,
        search_rollouts=0,
    )
    proposals = _propose(opt, state, iteration, parent, parent_rows, record)
    reason, improved = None, False
    for candidate in proposals:
        record.candidate_ids.append(candidate.id)
        reason, better = _try(opt, state, iteration, parent, parent_score, candidate, batch)
        improved = improved or better
        if reason is not None or opt.cancelled:
            reason = reason or "cancelled"
            break
    best = state.pool.best()
    record.best_id, record.best_score, record.improved = best.id, float(best.validation_score or 0.0), improved
    record.search_rollouts = state.usage.search_rollouts
    state.history.append(record)
    state.progress.best_by_iteration.append(record.best_score)
    return reason, improved


def _propose(
    opt: PromptOptimization,
    state: SearchState,
    iteration: int,
    parent: Candidate,
    rows: list[EvaluatedRow],
    record: IterationRecord,
) -> list[Candidate]:
    candidates: list[Candidate] = []
    if "reflection" in opt.strategies:
        if any(row_failed(row) for row in rows):
            candidates += _reflect(opt, state, iteration, parent, rows, record)
        else:
            record.note = "the parent passed the whole minibatch: nothing to reflect on"
    if "fewshot" in opt.strategies:
        k = opt.demos or default_demo_count(state.part("train"), opt.label_of)
        demos = select_demonstrations(
            state.part("train"), k=k, rng=state.rng, passing=state.passing(parent), label_of=opt.label_of
        )
        if demos and [d.example_id for d in demos] != [d.example_id for d in parent.prompt.demos]:
            prompt = CandidatePrompt(instruction=parent.prompt.instruction, demos=demos)
            candidates.append(
                state.new_candidate(opt.frame, prompt, origin="fewshot", iteration=iteration, parent=parent)
            )
    return candidates


def _reflect(
    opt: PromptOptimization,
    state: SearchState,
    iteration: int,
    parent: Candidate,
    rows: list[EvaluatedRow],
    record: IterationRecord,
) -> list[Candidate]:
    assert opt.optimization_task is not None
    request = build_reflection(
        frame=opt.frame,
        parent=parent,
        rows=rows,
        examples=state.examples,
        history=state.candidates,
        labelization=opt.labelization,
        num_prompts=opt.num_prompts,
    )
    record.reflection = ReflectionRecord(system=request.system, user=request.user, example_ids=request.example_ids)
    config = {**opt.config, "reflection_response_format": request.response_format}
    try:
        answer = opt.optimization_task(request.system, request.user, config)
        record.reflection.answer = answer if isinstance(answer, str) else repr(answer)
        proposal = parse_proposal(
            answer, frame=opt.frame, parent_instruction=parent.prompt.instruction, num_prompts=opt.num_prompts
        )
    except Exception as error:
        record.reflection.error = describe(error)
        state.usage.reflection(failed=True)
        opt.emit(
            state,
            "reflection_failed",
            f"iteration {iteration}: no proposal: {record.reflection.error}",
            iteration=iteration,
        )
        return []
    state.usage.reflection(failed=False)
    record.reflection.diagnosis, record.reflection.refused = proposal.diagnosis, proposal.refused
    record.reflection.proposed = len(proposal.prompts)
    opt.emit(
        state,
        "reflection",
        f"iteration {iteration}: {len(proposal.prompts)} proposal(s)",
        iteration=iteration,
        data={"diagnosis": proposal.diagnosis},
    )
    return [
        state.new_candidate(
            opt.frame,
            CandidatePrompt(instruction=text, demos=parent.prompt.demos),
            origin="reflection",
            iteration=iteration,
            parent=parent,
            diagnosis=proposal.diagnosis,
        )
        for text in proposal.prompts
    ]


def _try(
    opt: PromptOptimization,
    state: SearchState,
    iteration: int,
    parent: Candidate,
    parent_score: float,
    candidate: Candidate,
    batch: list[Example],
) -> tuple[str | None, bool]:
    """The minibatch gate, then validation; (a stop reason or None, whether it is the new best)."""
    candidate.parent_minibatch_score = parent_score
    if not state.affordable(state.rollouts.cost(batch), opt.budget_rollouts):
        candidate.status = "over_budget"
        return "budget", False
    rows = opt.minibatch(state, candidate, batch)
    candidate.minibatch_score = mean_score(rows)
    if not passes_gate(candidate, parent, parent_score):
        candidate.status = "rejected"
        opt.emit(
            state,
            "candidate",
            f"{candidate.id} ({candidate.origin}) rejected on the minibatch: "
            f"{candidate.minibatch_score:.3f} vs parent {parent_score:.3f}",
            iteration=iteration,
        )
        return None, False
    if not state.affordable(state.rollouts.cost(state.part("validation")), opt.budget_rollouts):
        candidate.status = "over_budget"
        return "budget", False
    opt.validate(state, candidate)
    best = state.pool.add(candidate)
    opt.emit(
        state,
        "candidate",
        f"{candidate.id} ({candidate.origin}): validation {candidate.validation_score:.3f}",
        iteration=iteration,
    )
    if best:
        state.note_best(candidate)
        opt.emit(state, "new_best", f"new best {candidate.id}: {candidate.validation_score:.3f}", iteration=iteration)
        if opt.stop_condition_met(state):
            return "stopping_condition", True
    return None, best


def passes_gate(candidate: Candidate, parent: Candidate, parent_score: float) -> bool:
    """Whether ``candidate`` (its minibatch score set) beat its parent on their minibatch."""
    score = candidate.minibatch_score or 0.0
    if score > parent_score + _EPSILON:
        return True
    return abs(score - parent_score) <= _EPSILON and score > 0 and candidate.length < parent.length
