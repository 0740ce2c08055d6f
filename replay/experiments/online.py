"""Online evaluation: the server applies the enabled rules to newly stored spans, in the background.

:class:`OnlineEvaluator` runs one thread with its own event loop, off the ingest path: ingest never waits for
it, and it only reads the ``spans`` table (DuckDB's MVCC: reads do not block the writer) and makes one small
write per rule pass. Every ``poll_seconds``, for each enabled rule:

1. **which spans are new**: those of the rule's kind/project/prompt whose ``ingested_at`` is past the rule's
   watermark and at most the *horizon*, ``batch_spans`` at a time (a pass that leaves more goes on at once).
   Batches are built in parallel worker processes and may commit out of ``ingested_at`` order, so the horizon
   is ``now`` only while nothing is waiting to be stored (then every span stamped before now is stored), else
   ``now - settle_seconds``; spans of the internal projects ``experiments`` and ``replay`` are left out unless
   the rule names that project;
2. **which of them to judge**: the rule's ``sample_rate`` share, by a hash of rule id and span id (the same
   span is always in or always out); spans without output (e.g. failed calls) are skipped;
3. **judge**: every evaluator of the rule, concurrently (judges call their provider), on ``input`` = the
   span's prompt variables, else ``{"messages": input messages}``, else its input text; ``output`` = its
   last output message (else output text); ``expected`` = none; ``metadata`` = the span's metadata;
4. **record**: each result as an annotation on the span (annotator CODE or LLM, metadata naming the rule),
   the new watermark and the counters, in one transaction. A span that fails a rule (``passed`` false,
   score 0) is a candidate for promotion: ``POST /datasets/{name}/promote`` with ``score_below`` and
   ``annotation_name`` selects it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

from collector.store.database import Store
from replay.evaluators import EvaluationResult, Evaluator
from replay.evaluators.base import describe
from replay.experiments.evaluators import JudgeClients, build_evaluators
from replay.experiments.rules import OnlineRule, RuleProgress, RuleStore
from replay.providers import ProviderRegistry

__all__ = ["INTERNAL_PROJECTS", "OnlineEvaluator", "sampled"]

INTERNAL_PROJECTS = ("experiments", "replay")
_log = logging.getLogger(__name__)
_DETAIL_COLUMNS = (
    "trace_id, span_id, project, model, input_messages, output_messages, input_value, output_value, "
    "prompt_variables, metadata"
)


def sampled(rule_id: str, span_id: str, rate: float) -> bool:
    """Whether the rule judges this span: a fixed pseudo-random draw per (rule, span) below ``rate``."""
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(f"{rule_id}:{span_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


class OnlineEvaluator:
    """Applies online rules to incoming spans (see the module docstring). ``providers`` gives the registry the
    judges use (called once, when the worker starts); ``is_idle`` says whether ingest has nothing waiting."""

    def __init__(
        self,
        store: Store,
        providers: Callable[[], ProviderRegistry],
        *,
        is_idle: Callable[[], bool] = lambda: False,
        poll_seconds: float = 1.0,
        settle_seconds: float = 5.0,
        batch_spans: int = 1000,
        concurrency: int = 8,
    ) -> None:
        self.rules = RuleStore(store)
        self.store = store
        self._providers = providers
        self._is_idle = is_idle
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.batch_spans = batch_spans
        self._concurrency = concurrency
        self._watermarks: dict[str, datetime] = {}  # advanced past empty ranges without a write
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._judges: JudgeClients | None = None
        self._behind = False  # the last pass left matching spans for the next one

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="spanlab-online-eval", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        self._judges = JudgeClients(self._providers())
        try:
            while not self._stop.is_set():
                try:
                    await self.run_once()
                except Exception:  # a pass that failed (e.g. the store closing) must not end the worker
                    _log.warning("online evaluation pass failed", exc_info=True)
                    self._behind = False
                if not self._behind:  # a rule with more than a batch waiting goes on at once
                    await asyncio.to_thread(self._stop.wait, self.poll_seconds)
        finally:
            await self._judges.aclose()

    async def run_once(self) -> int:
        """One pass over every enabled rule; returns how many spans were evaluated."""
        now = datetime.now(UTC)
        horizon = now if self._is_idle() else now - timedelta(seconds=self.settle_seconds)
        evaluated = 0
        self._behind = False
        for rule in await asyncio.to_thread(self.rules.list_rules):
            if rule.enabled and not self._stop.is_set():
                evaluated += await self._apply(rule, horizon)
        return evaluated

    async def _apply(self, rule: OnlineRule, horizon: datetime) -> int:
        start = max(rule.watermark, self._watermarks.get(rule.id, rule.watermark))
        if horizon <= start:
            return 0
        keys, upper = await asyncio.to_thread(self._new_spans, rule, start, horizon)
        self._behind = self._behind or upper < horizon
        chosen = [(trace_id, span_id) for trace_id, span_id in keys if sampled(rule.id, span_id, rule.sample_rate)]
        if not chosen:
            self._watermarks[rule.id] = upper
            return 0
        try:
            evaluators = await asyncio.to_thread(self._evaluators, rule)
        except Exception as exc:  # e.g. a judge's provider is no longer configured: keep the spans for later
            await asyncio.to_thread(self.rules.record, rule.id, RuleProgress(watermark=start, error=describe(exc)))
            return 0
        spans = await asyncio.to_thread(self._details, chosen)
        progress = RuleProgress(watermark=upper)
        limit = asyncio.Semaphore(self._concurrency)

        async def judge(span: dict[str, Any]) -> None:
            # built-in code evaluators take microseconds: judged right here rather than each in a worker thread
            async with limit:
                results = await asyncio.gather(
                    *(
                        _evaluate(e, span) if e.annotator_kind != "CODE" else _now(_judge_code(e, span))
                        for e in evaluators
                    )
                )
            progress.evaluated += 1
            for evaluator, result in zip(evaluators, results, strict=True):
                progress.failed += result.passed is False
                progress.errors += result.error is not None
                if result.error is not None:
                    progress.error = f"{result.name}: {result.error}"
                progress.annotations.append(_annotation(rule, span, result, evaluator.annotator_kind))

        await asyncio.gather(*(judge(span) for span in spans if span["output"] is not None))
        await asyncio.to_thread(self.rules.record, rule.id, progress)
        self._watermarks[rule.id] = upper
        return progress.evaluated

    def _evaluators(self, rule: OnlineRule) -> list[Evaluator]:
        assert self._judges is not None
        evaluators, _ = build_evaluators(self.rules.specs(rule.id), judges=self._judges, remote=True)
        return evaluators

    def _new_spans(
        self, rule: OnlineRule, start: datetime, horizon: datetime
    ) -> tuple[list[tuple[str, str]], datetime]:
        """The (trace id, span id) of matching spans in (start, upper] and ``upper``: the horizon, or — when
        there are more than a batch — the ``ingested_at`` of the batch's last span (whole timestamps only)."""
        where = ["ingested_at > ?", "ingested_at <= ?", "kind = ?"]
        params: list[Any] = [_naive(start), _naive(horizon), rule.span_kind]
        if rule.project is not None:
            where.append("project = ?")
            params.append(rule.project)
        else:
            where.append("project NOT IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(INTERNAL_PROJECTS))
        if rule.prompt_name is not None:
            where.append("prompt_name = ?")
            params.append(rule.prompt_name)
        sql = f"SELECT trace_id, span_id, ingested_at FROM spans WHERE {' AND '.join(where)} ORDER BY ingested_at"

        def read(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]], datetime]:
            rows = con.execute(f"{sql} LIMIT {self.batch_spans}", params).fetchall()
            if len(rows) < self.batch_spans:
                return [(t, s) for t, s, _ in rows], horizon
            upper = rows[-1][2]
            rows = con.execute(sql, [*params[:1], upper, *params[2:]]).fetchall()
            return [(t, s) for t, s, _ in rows], upper.replace(tzinfo=UTC)

        return self.store.read(read)

    def _details(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        wanted = set(keys)
        sql = f"SELECT {_DETAIL_COLUMNS} FROM spans WHERE span_id IN (SELECT unnest(?::VARCHAR[]))"
        rows = self.store.read(lambda con: con.execute(sql, [[span for _, span in keys]]).fetchall())
        names = [name.strip() for name in _DETAIL_COLUMNS.split(",")]
        return [_row(dict(zip(names, row, strict=True))) for row in rows if (row[0], row[1]) in wanted]


def _row(span: dict[str, Any]) -> dict[str, Any]:
    """What the evaluators see of a span (see the module docstring)."""
    decoded = {
        key: orjson.loads(span[key]) if span[key] is not None else None
        for key in ("input_messages", "output_messages", "prompt_variables", "metadata")
    }
    outputs = decoded["output_messages"] or []
    if decoded["prompt_variables"]:
        value_in: Any = decoded["prompt_variables"]
    elif decoded["input_messages"]:
        value_in = {"messages": decoded["input_messages"]}
    else:
        value_in = span["input_value"]
    return {
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "input": value_in,
        "output": outputs[-1] if outputs else span["output_value"],
        "metadata": {**(decoded["metadata"] or {}), "project": span["project"], "model": span["model"]},
    }


def _judge_code(evaluator: Evaluator, span: dict[str, Any]) -> EvaluationResult:
    try:
        return evaluator.evaluate(input=span["input"], output=span["output"], metadata=span["metadata"])
    except Exception as exc:
        return EvaluationResult.failure(evaluator.name, describe(exc))


async def _now(result: EvaluationResult) -> EvaluationResult:
    return result


async def _evaluate(evaluator: Evaluator, span: dict[str, Any]) -> EvaluationResult:
    try:
        return await evaluator.aevaluate(input=span["input"], output=span["output"], metadata=span["metadata"])
    except Exception as exc:
        return EvaluationResult.failure(evaluator.name, describe(exc))


def _annotation(rule: OnlineRule, span: dict[str, Any], result: EvaluationResult, kind: Any) -> list[Any]:
    annotation = result.to_annotation(annotator_kind=kind)
    metadata = {**(annotation.metadata or {}), "online_rule": rule.name, "rule_id": rule.id}
    return [
        str(uuid.uuid4()),
        span["trace_id"],
        span["span_id"],
        annotation.name,
        annotation.score,
        annotation.label,
        annotation.explanation,
        annotation.annotator_kind,
        orjson.dumps(metadata).decode(),
        _naive(datetime.now(UTC)),
    ]


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
