"""The optimizer's errors.

They derive from :class:`replay.errors.ReplayError`, so the REST API's one handler turns them into
``{"error": {"type", "message"}}`` with their ``status_code`` like every other error of the loop.

OptimizerError               base; ``status_code`` is the HTTP status the API answers with
├── OptimizerInvalid         bad settings: a split that does not add up, a dataset too small to split, a budget
│                            below the baseline run, a prompt with nothing to optimize (HTTP 422; also a
│                            :class:`replay.errors.InvalidInput`)
├── OptimizationNotFound     no optimization run with that id (HTTP 404)
├── OptimizationConflict     the run cannot do that now, e.g. cancel a run that is over (HTTP 409)
├── OptimizationCancelled    cancelled before the starting prompt was scored: there is no result (HTTP 409)
├── ReflectionUnusable       the reasoning model's answer holds no usable prompt (HTTP 502); the loop records
│                            it on the iteration as a failed proposal and goes on — it never ends a run
└── TaskFailed               the task failed on every example of the baseline run: nothing to optimize (HTTP 502)
"""

from __future__ import annotations

from replay.errors import InvalidInput, ReplayError

__all__ = [
    "OptimizationCancelled",
    "OptimizationConflict",
    "OptimizationNotFound",
    "OptimizerError",
    "OptimizerInvalid",
    "ReflectionUnusable",
    "TaskFailed",
]


class OptimizerError(ReplayError):
    """Base of every error the optimizer raises on purpose."""

    status_code: int = 400


class OptimizerInvalid(OptimizerError, InvalidInput):
    status_code = 422


class OptimizationNotFound(OptimizerError):
    status_code = 404


class OptimizationConflict(OptimizerError):
    status_code = 409


class OptimizationCancelled(OptimizerError):
    status_code = 409


class ReflectionUnusable(OptimizerError):
    """The reasoning model answered, but no new prompt could be taken from the answer; the message says why."""

    status_code = 502


class TaskFailed(OptimizerError):
    status_code = 502
