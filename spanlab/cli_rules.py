"""``spanlab experiments rules``: the online-evaluation rules the server applies to incoming spans.

    spanlab experiments rules add json-replies --project support-bot --evaluator valid_json --sample-rate 0.2
    spanlab experiments rules list
    spanlab experiments rules update RULE_ID --disable
    spanlab experiments rules delete RULE_ID

Exit status: 0 on success; 1 when the server refuses or cannot be reached; 2 on usage errors.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from replay.errors import InvalidInput
from replay.experiments.evaluators import inline_files
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["rules_app"]

rules_app = typer.Typer(no_args_is_help=True, help="Online evaluation: rules the server applies to incoming spans.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
RuleId = Annotated[str, typer.Argument(help="The rule's id.")]
Evaluators = Annotated[list[str] | None, typer.Option("--evaluator", help="An evaluator spec; repeatable.")]
SampleRate = Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Share of matching spans to evaluate.")]


def _bodies(specs: list[str]) -> list[dict[str, Any]]:
    try:
        parsed = [inline_files(text) for text in specs]
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--evaluator") from None
    return [{"name": spec.name, "options": spec.options, "target": spec.target} for spec in parsed]


@rules_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name for the rule.")],
    evaluator: Evaluators = None,
    project: Annotated[str | None, typer.Option(help="Only spans of this project.")] = None,
    prompt_name: Annotated[str | None, typer.Option(help="Only spans of this prompt.")] = None,
    span_kind: Annotated[str, typer.Option(help="Span kind: LLM, CHAIN, TOOL…")] = "LLM",
    sample_rate: SampleRate = 1.0,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Create a rule: matching spans ingested from now on are evaluated and annotated."""
    if not evaluator:
        raise typer.BadParameter("give at least one --evaluator")
    body = {
        "name": name,
        "project": project,
        "prompt_name": prompt_name,
        "span_kind": span_kind,
        "sample_rate": sample_rate,
        "evaluators": _bodies(evaluator),
        "enabled": not disabled,
    }
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        rule = client.post("/online-rules", json={k: v for k, v in body.items() if v is not None})
    typer.echo(json.dumps(rule, indent=2) if json_output else f"created rule {rule['name']} ({rule['id']})")


@rules_app.command("list")
def list_rules(json_output: JsonFlag = False) -> None:
    """Every rule with what it matches and what it has done."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        page = client.get("/online-rules")
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{len(page['data'])} rule(s)", title_justify="left")
    for column in ("id", "name", "matches", "sample", "evaluators", "on", "evaluated", "failed", "errors"):
        table.add_column(column, overflow="fold")
    for rule in page["data"]:
        matches = [rule["span_kind"]]
        matches += [f"project={rule['project']}"] if rule["project"] else []
        matches += [f"prompt={rule['prompt_name']}"] if rule["prompt_name"] else []
        table.add_row(
            rule["id"],
            Text(rule["name"]),
            Text(" ".join(matches)),
            f"{rule['sample_rate']:g}",
            Text("\n".join(rule["evaluators"])),
            "yes" if rule["enabled"] else "no",
            str(rule["evaluated"]),
            str(rule["failed"]),
            str(rule["errors"]),
        )
    Console().print(table)


@rules_app.command("show")
def show(rule_id: RuleId) -> None:
    """One rule as JSON, with its watermark and last error."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        typer.echo(json.dumps(client.get(f"/online-rules/{rule_id}"), indent=2))


@rules_app.command("update")
def update(
    rule_id: RuleId,
    evaluator: Evaluators = None,
    sample_rate: SampleRate = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Switch the rule on or off.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Change a rule's evaluators, sample rate, or switch it on or off."""
    body: dict[str, Any] = {}
    if evaluator:
        body["evaluators"] = _bodies(evaluator)
    if sample_rate is not None:
        body["sample_rate"] = sample_rate
    if enable is not None:
        body["enabled"] = enable
    if not body:
        raise typer.BadParameter("give --evaluator, --sample-rate, --enable or --disable")
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        rule = client.patch(f"/online-rules/{rule_id}", json=body)
    typer.echo(json.dumps(rule, indent=2) if json_output else f"updated rule {rule['name']}")


@rules_app.command("delete")
def delete(rule_id: RuleId) -> None:
    """Delete a rule (the annotations it wrote stay)."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        client.delete(f"/online-rules/{rule_id}")
    typer.echo(f"deleted rule {rule_id}")
