"""Online-evaluation rules: which incoming spans to judge, how often, and with what — stored in ``online_rules``.

A rule selects spans by span kind (``LLM`` by default), optionally project and prompt name, and evaluates a
deterministic ``sample_rate`` share of them (by a hash of rule id and span id, so a span is in or out for good)
with its evaluators (code evaluators and judges, as specs). Its ``watermark`` is the ``ingested_at`` up to which
spans have been considered; a new rule starts at its creation time, so it judges spans that arrive from then on.
Counters say how many spans it evaluated, how many results failed or errored, and the last error.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import as_utc, invalid
from collector.store.database import Store
from replay.errors import Conflict, InvalidInput, NotFound
from replay.evaluators import EvaluatorSpec, parse_evaluator_spec
from replay.experiments.evaluators import EvaluatorRequest, spec_text
from replay.experiments.store import insert_annotations
from replay.prompts.models import NAME_PATTERN

__all__ = ["OnlineRule", "OnlineRuleInput", "OnlineRuleUpdate", "RuleProgress", "RuleStore", "rule_specs"]

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COLUMNS = (
    "id, name, project, prompt_name, span_kind, sample_rate, evaluators, enabled, watermark, evaluated, failed, "
    "errors, last_evaluated_at, last_error, created_at, updated_at"
)
MAX_RULES = 100


def _spec_dict(item: str | EvaluatorRequest) -> dict[str, Any]:
    spec = parse_evaluator_spec(item) if isinstance(item, str) else item.spec()
    return {"name": spec.name, "options": spec.options, "target": spec.target}


class OnlineRuleInput(BaseModel):
    """A new rule (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{NAME_PATTERN}$", description="Unique; letters, digits, '_', '.', '-'.")
    project: str | None = Field(None, min_length=1, max_length=200, description="Only spans of this project.")
    prompt_name: str | None = Field(None, min_length=1, max_length=500, description="Only spans of this prompt.")
    span_kind: str = Field("LLM", min_length=1, max_length=50, description="LLM, CHAIN, TOOL, …")
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Share of matching spans to evaluate.")
    evaluators: list[str | EvaluatorRequest] = Field(min_length=1, max_length=10)
    enabled: bool = True

    @field_validator("span_kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return value.upper()

    @field_validator("evaluators")
    @classmethod
    def _specs(cls, value: list[str | EvaluatorRequest]) -> list[str | EvaluatorRequest]:
        for item in value:
            try:
                _spec_dict(item)
            except InvalidInput as exc:
                raise invalid(str(exc)) from None
        return value


class OnlineRuleUpdate(BaseModel):
    """A change to a rule: only the fields given change (``project``/``prompt_name`` null: any)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, pattern=f"^{NAME_PATTERN}$")
    project: str | None = Field(None, min_length=1, max_length=200)
    prompt_name: str | None = Field(None, min_length=1, max_length=500)
    span_kind: str | None = Field(None, min_length=1, max_length=50)
    sample_rate: float | None = Field(None, ge=0.0, le=1.0)
    evaluators: list[str | EvaluatorRequest] | None = Field(None, min_length=1, max_length=10)
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> OnlineRuleUpdate:
        if not self.model_fields_set:
            raise invalid("give at least one field to change")
        for key in ("name", "span_kind", "sample_rate", "evaluators", "enabled"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise invalid(f"{key} cannot be null")
        return self


class OnlineRule(BaseModel):
    """A stored rule with its progress."""

    id: str
    name: str
    project: str | None = None
    prompt_name: str | None = None
    span_kind: str
    sample_rate: float
    evaluators: list[str] = Field(description="The evaluator specs, as the CLI writes them.")
    enabled: bool
    watermark: datetime = Field(description="Spans ingested up to this time have been considered.")
    evaluated: int = Field(description="Spans evaluated so far.")
    failed: int = Field(description="Evaluation results that failed (a span failing a rule).")
    errors: int = Field(description="Evaluation results the evaluator could not give.")
    last_evaluated_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


class RuleProgress(BaseModel):
    """What one pass of a rule did, written with its annotations in one transaction."""

    watermark: datetime
    evaluated: int = 0
    failed: int = 0
    errors: int = 0
    error: str | None = None
    annotations: list[list[Any]] = Field(default_factory=list)


def rule_specs(con: duckdb.DuckDBPyConnection, rule_id: str) -> list[EvaluatorSpec]:
    """A rule's evaluator specs, exactly as given (not re-parsed from text)."""
    row = con.execute("SELECT evaluators FROM online_rules WHERE id = ?", [rule_id]).fetchone()
    if row is None:
        raise NotFound(f"no online rule with id {rule_id}")
    return [EvaluatorSpec(name=i["name"], options=i["options"], target=i["target"]) for i in orjson.loads(row[0])]


class RuleStore:
    """Create, change, delete and read rules; record a rule's progress."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, data: OnlineRuleInput) -> OnlineRule:
        """A new rule, its watermark now; :class:`Conflict` when the name is taken."""
        now = _naive(datetime.now(UTC))
        rule_id = str(uuid.uuid4())
        specs = orjson.dumps([_spec_dict(item) for item in data.evaluators]).decode()

        def write(con: duckdb.DuckDBPyConnection) -> None:
            _check_name(con, data.name, None)
            count = con.execute("SELECT count(*) FROM online_rules").fetchone()
            if count is not None and count[0] >= MAX_RULES:
                raise Conflict(f"there are {MAX_RULES} rules already; delete one first")
            con.execute(
                f"INSERT INTO online_rules ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, NULL, NULL, ?, ?)",
                [
                    rule_id,
                    data.name,
                    data.project,
                    data.prompt_name,
                    data.span_kind,
                    data.sample_rate,
                    specs,
                    data.enabled,
                    now,
                    now,
                    now,
                ],
            )

        self.store.write(write).result()
        return self.get(rule_id)

    def update(self, rule_id: str, data: OnlineRuleUpdate) -> OnlineRule:
        """Change the fields given; :class:`NotFound`, :class:`Conflict` for a taken name."""
        self.get(rule_id)
        changes: dict[str, Any] = {key: getattr(data, key) for key in data.model_fields_set}
        if "span_kind" in changes:
            changes["span_kind"] = changes["span_kind"].upper()
        if "evaluators" in changes:
            changes["evaluators"] = orjson.dumps([_spec_dict(item) for item in data.evaluators or []]).decode()
        changes["updated_at"] = _naive(datetime.now(UTC))

        def write(con: duckdb.DuckDBPyConnection) -> None:
            if "name" in changes:
                _check_name(con, changes["name"], rule_id)
            assignments = ", ".join(f"{key} = ?" for key in changes)
            con.execute(f"UPDATE online_rules SET {assignments} WHERE id = ?", [*changes.values(), rule_id])

        self.store.write(write).result()
        return self.get(rule_id)

    def delete(self, rule_id: str) -> OnlineRule:
        """Delete a rule and return it as it was; :class:`NotFound` when unknown."""
        rule = self.get(rule_id)
        self.store.write(lambda con: con.execute("DELETE FROM online_rules WHERE id = ?", [rule_id])).result()
        return rule

    def get(self, rule_id: str) -> OnlineRule:
        """One rule; :class:`InvalidInput` for a malformed id, :class:`NotFound` when unknown."""
        if not _ID.fullmatch(rule_id):
            raise InvalidInput(f"rule id {rule_id[:60]!r} is not valid: expected a lower-case UUID")
        rows = self.store.read(
            lambda con: con.execute(f"SELECT {_COLUMNS} FROM online_rules WHERE id = ?", [rule_id]).fetchall()
        )
        if not rows:
            raise NotFound(f"no online rule with id {rule_id}")
        return _rule(rows[0])

    def list_rules(self) -> list[OnlineRule]:
        rows = self.store.read(lambda con: con.execute(f"SELECT {_COLUMNS} FROM online_rules ORDER BY name").fetchall())
        return [_rule(row) for row in rows]

    def specs(self, rule_id: str) -> list[EvaluatorSpec]:
        return self.store.read(lambda con: rule_specs(con, rule_id))

    def record(self, rule_id: str, progress: RuleProgress) -> None:
        """Store a pass's annotations and move the rule's watermark and counters, in one transaction. A rule
        deleted meanwhile records nothing."""

        def write(con: duckdb.DuckDBPyConnection) -> None:
            if not con.execute("SELECT 1 FROM online_rules WHERE id = ?", [rule_id]).fetchall():
                return
            insert_annotations(con, progress.annotations)
            con.execute(
                "UPDATE online_rules SET watermark = greatest(watermark, ?), evaluated = evaluated + ?, "
                "failed = failed + ?, errors = errors + ?, last_evaluated_at = CASE WHEN ? > 0 THEN ? "
                "ELSE last_evaluated_at END, last_error = coalesce(?, last_error) WHERE id = ?",
                [
                    _naive(progress.watermark),
                    progress.evaluated,
                    progress.failed,
                    progress.errors,
                    progress.evaluated,
                    _naive(datetime.now(UTC)),
                    progress.error,
                    rule_id,
                ],
            )

        self.store.write(write).result()


def _check_name(con: duckdb.DuckDBPyConnection, name: str, rule_id: str | None) -> None:
    row = con.execute("SELECT id FROM online_rules WHERE name = ?", [name]).fetchone()
    if row is not None and row[0] != rule_id:
        raise Conflict(f"an online rule named {name!r} already exists")


def _rule(row: tuple[Any, ...]) -> OnlineRule:
    names = [name.strip() for name in _COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    specs = orjson.loads(values["evaluators"])
    values["evaluators"] = [spec_text(EvaluatorSpec(s["name"], s["options"], s["target"])) for s in specs]
    for key in ("watermark", "last_evaluated_at", "created_at", "updated_at"):
        values[key] = None if values[key] is None else as_utc(values[key])
    return OnlineRule.model_validate(values)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
