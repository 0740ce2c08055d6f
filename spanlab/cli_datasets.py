"""``spanlab datasets``: create, list, show, add/edit/remove examples, import/export files, promote spans.

Exit status: 0 on success; 1 when the server refuses or cannot be reached (one line on stderr); 2 on usage
errors (bad options, unreadable file, JSON options that are not JSON).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from replay.datasets.files import export_csv, export_jsonl
from replay.datasets.models import Example
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["datasets_app"]

datasets_app = typer.Typer(no_args_is_help=True, help="Datasets of examples: from files, by hand, from failing spans.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
Name = Annotated[str, typer.Argument(help="The dataset's name.")]
Version = Annotated[int | None, typer.Option(min=0, help="A dataset version (default: the current one).")]
PREVIEW = 60


class FileFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class SpanStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


@datasets_app.command("create")
def create(name: Name, description: Annotated[str | None, typer.Option(help="What it is for.")] = None) -> None:
    """Create an empty dataset."""
    with exit_on_client_error(), _client() as client:
        client.post("/datasets", json={"name": name, "description": description})
    typer.echo(f"created dataset {name}")


@datasets_app.command("list")
def list_datasets(json_output: JsonFlag = False) -> None:
    """Every dataset: name, current version, example count, description."""
    with exit_on_client_error(), _client() as client:
        page = client.get("/datasets")
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{len(page['data'])} dataset(s)", title_justify="left")
    for column in ("name", "version", "examples", "updated (UTC)", "description"):
        table.add_column(column, overflow="fold")
    for d in page["data"]:
        updated = d["updated_at"][:19].replace("T", " ")
        table.add_row(
            Text(d["name"]), str(d["version"]), str(d["example_count"]), updated, Text(d["description"] or "")
        )
    Console().print(table)


@datasets_app.command("show")
def show(name: Name, version: Version = None, json_output: JsonFlag = False) -> None:
    """The examples of a version: id, input, expected output, source span."""
    with exit_on_client_error(), _client() as client:
        page = client.get(f"/datasets/{_q(name)}/examples", params=_params(version=version))
        at = version if version is not None else client.get(f"/datasets/{_q(name)}")["version"]
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{name} v{at}: {len(page['data'])} example(s)", title_justify="left")
    for column in ("id", "input", "expected", "span"):
        table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=PREVIEW if column != "id" else 36)
    for e in page["data"]:
        expected = "" if e["expected_output"] is None else _preview(e["expected_output"])
        table.add_row(e["id"], Text(_preview(e["input"])), Text(expected), e["source_span_id"] or "")
    Console().print(table)


@datasets_app.command("versions")
def versions(name: Name, json_output: JsonFlag = False) -> None:
    """A dataset's versions, newest first, with what changed."""
    with exit_on_client_error(), _client() as client:
        rows = client.get(f"/datasets/{_q(name)}/versions")
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{name}: {len(rows)} version(s)", title_justify="left")
    for column in ("version", "created (UTC)", "examples", "change"):
        table.add_column(column, overflow="fold")
    for v in rows:
        table.add_row(
            str(v["version"]), v["created_at"][:19].replace("T", " "), str(v["example_count"]), Text(v["note"])
        )
    Console().print(table)


@datasets_app.command("add")
def add(
    name: Name,
    input_json: Annotated[str, typer.Option("--input", help="The input, a JSON object.")],
    expected: Annotated[str | None, typer.Option(help="The expected output, as text.")] = None,
    expected_json: Annotated[str | None, typer.Option(help="The expected output, as JSON.")] = None,
    metadata: Annotated[str | None, typer.Option(help="Metadata, a JSON object.")] = None,
) -> None:
    """Add one example (a new version)."""
    example: dict[str, Any] = {"input": _json_object(input_json, "--input")}
    if expected is not None or expected_json is not None:
        example["expected_output"] = _expected(expected, expected_json)
    if metadata is not None:
        example["metadata"] = _json_object(metadata, "--metadata")
    with exit_on_client_error(), _client() as client:
        change = client.post(f"/datasets/{_q(name)}/examples", json={"examples": [example]})
    typer.echo(f"added example {change['examples'][0]['id']} → {name} v{change['version']}")


@datasets_app.command("edit")
def edit(
    name: Name,
    example_id: Annotated[str, typer.Argument(help="The example's id.")],
    expected: Annotated[str | None, typer.Option(help="Set the expected output, as text.")] = None,
    expected_json: Annotated[str | None, typer.Option(help="Set the expected output, as JSON.")] = None,
    clear_expected: Annotated[bool, typer.Option(help="Clear the expected output.")] = False,
    input_json: Annotated[str | None, typer.Option("--input", help="Replace the input (a JSON object).")] = None,
    metadata: Annotated[str | None, typer.Option(help="Replace the metadata (a JSON object).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Edit an example, e.g. set or fix its expected output (a new version)."""
    update: dict[str, Any] = {}
    if clear_expected and (expected is not None or expected_json is not None):
        raise typer.BadParameter("--clear-expected cannot be combined with --expected/--expected-json")
    if expected is not None or expected_json is not None or clear_expected:
        update["expected_output"] = None if clear_expected else _expected(expected, expected_json)
    if input_json is not None:
        update["input"] = _json_object(input_json, "--input")
    if metadata is not None:
        update["metadata"] = _json_object(metadata, "--metadata")
    if not update:
        raise typer.BadParameter("give --expected, --expected-json, --clear-expected, --input or --metadata")
    with exit_on_client_error(), _client() as client:
        example = client.patch(f"/datasets/{_q(name)}/examples/{_q(example_id)}", json=update)
        at = client.get(f"/datasets/{_q(name)}")["version"]
    if json_output:
        typer.echo(json.dumps(example, indent=2))
        return
    typer.echo(f"example {example_id} → {name} v{at}: expected {_preview(example['expected_output'])}")


@datasets_app.command("remove")
def remove(name: Name, example_id: Annotated[str, typer.Argument(help="The example's id.")]) -> None:
    """Remove an example (a new version; older versions keep it)."""
    with exit_on_client_error(), _client() as client:
        change = client.delete(f"/datasets/{_q(name)}/examples/{_q(example_id)}")
    typer.echo(f"removed example {example_id} → {name} v{change['version']}")


@datasets_app.command("import")
def import_file(
    name: Name,
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file.", exists=True, dir_okay=False)],
    file_format: Annotated[FileFormat | None, typer.Option("--format", help="Default: from the suffix.")] = None,
    input_column: Annotated[list[str] | None, typer.Option(help="CSV: an input column (repeat).")] = None,
    expected_column: Annotated[str | None, typer.Option(help="CSV: the expected-output column.")] = None,
    metadata_column: Annotated[list[str] | None, typer.Option(help="CSV: a metadata column (repeat).")] = None,
) -> None:
    """Import a JSONL or CSV file as one new version (the dataset is created when missing)."""
    fmt = file_format or (FileFormat.csv if file.suffix.lower() == ".csv" else FileFormat.jsonl)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from None
    params = _params(
        format=fmt.value,
        filename=file.name,
        input_columns=input_column or None,
        expected_column=expected_column,
        metadata_columns=metadata_column or None,
    )
    media = "text/csv" if fmt is FileFormat.csv else "application/x-ndjson"
    with exit_on_client_error(), _client() as client:
        change = client.post_content(f"/datasets/{_q(name)}/import", content, content_type=media, params=params)
    typer.echo(f"imported {len(change['examples'])} example(s) → {name} v{change['version']}")


@datasets_app.command("export")
def export(
    name: Name,
    file_format: Annotated[FileFormat, typer.Option("--format", help="jsonl or csv.")] = FileFormat.jsonl,
    version: Version = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a version's examples as JSONL or CSV (importing the file back gives the same examples)."""
    with exit_on_client_error(), _client() as client:
        page = client.get(f"/datasets/{_q(name)}/examples", params=_params(version=version))
    examples = [Example.model_validate(e) for e in page["data"]]
    text = export_csv(examples) if file_format is FileFormat.csv else export_jsonl(examples)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {len(examples)} example(s) to {output}", err=True)


@datasets_app.command("promote")
def promote(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="The dataset (created when missing).")],
    status: Annotated[SpanStatus | None, typer.Option(help="Span status, e.g. ERROR.")] = None,
    score_below: Annotated[float | None, typer.Option(help="Some annotation scores below this.")] = None,
    annotation: Annotated[str | None, typer.Option(help="The annotation name the score/label tests use.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Some annotation has this label (repeat).")] = None,
    span_id: Annotated[list[str] | None, typer.Option(help="This span (repeat).")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    start: Annotated[datetime | None, typer.Option(help="Spans starting at or after (ISO 8601, UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Spans starting before (ISO 8601, UTC).")] = None,
    prompt: Annotated[str | None, typer.Option(help="Spans of this prompt: NAME or NAME@VERSION.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    kind: Annotated[str | None, typer.Option(help="Span kind (default LLM unless --span-id).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many spans.")] = 100,
    json_output: JsonFlag = False,
) -> None:
    """Promote spans (e.g. failing ones) into a dataset; a span already there is not added twice."""
    prompt_name, _, prompt_version = (prompt or "").partition("@")
    filters = {
        "status": status.value if status else None,
        "score_below": score_below,
        "annotation_name": annotation,
        "labels": label or None,
        "span_ids": span_id or None,
        "project": project,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "prompt_name": prompt_name or None,
        "prompt_version": prompt_version or None,
        "model": model,
        "kind": kind,
        "limit": limit,
    }
    with exit_on_client_error(), _client() as client:
        result = client.post(
            f"/datasets/{_q(dataset)}/promote", json={k: v for k, v in filters.items() if v is not None}
        )
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{len(result['added'])} added, {len(result['already_present'])} already present, "
        f"{len(result['skipped'])} skipped of {result['matched']} matching span(s) → {dataset} v{result['version']}"
    )
    for skipped in result["skipped"]:
        typer.echo(f"skipped {skipped['span_id']}: {skipped['reason']}")
    if result["more"]:
        typer.echo(f"more spans match: raise --limit (was {limit}) or narrow the filters")


def _expected(text: str | None, raw_json: str | None) -> Any:
    if text is not None and raw_json is not None:
        raise typer.BadParameter("give --expected or --expected-json, not both")
    if raw_json is None:
        return text
    try:
        return json.loads(raw_json)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--expected-json is not valid JSON: {exc}") from None


def _json_object(raw: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object")
    return value


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split())[:PREVIEW]


def _client() -> SpanlabClient:
    return SpanlabClient.from_settings(cli_settings())


def _q(part: str) -> str:
    return quote(part, safe="")
