"""``spanlab prompts``: push prompt files, list, show, version history, diff and tags, over HTTP.

Exit status: 0 on success; 1 when the server refuses or cannot be reached, or a prompt file is invalid (one
line on stderr); 2 on usage errors (bad options, missing file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
import yaml
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from replay.errors import ReplayError
from replay.prompts.files import load_prompt_file, prompt_file_content
from replay.prompts.models import PromptVersion
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["prompts_app"]

prompts_app = typer.Typer(no_args_is_help=True, help="The prompt hub: versions from files, tags, diffs.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
Name = Annotated[str, typer.Argument(help="The prompt's name.")]


@prompts_app.command("push")
def push(
    file: Annotated[Path, typer.Argument(help="A prompt file (.yaml, .yml or .json).", exists=True, dir_okay=False)],
    json_output: JsonFlag = False,
) -> None:
    """Make a new version from a prompt file (identical content returns the existing version)."""
    try:
        data = load_prompt_file(file)
    except ReplayError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    with exit_on_client_error(), _client() as client:
        result = client.post("/prompts", json=data.model_dump(mode="json"))
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    version = result["prompt_version"]
    ref = f"{version['prompt_name']}@{version['version']}"
    if result["created"]:
        typer.echo(f"created {ref} ({version['content_hash'][:19]})")
    else:
        typer.echo(f"unchanged: identical to {ref}")


@prompts_app.command("list")
def list_prompts(json_output: JsonFlag = False) -> None:
    """Every prompt: name, newest version, tags, description."""
    with exit_on_client_error(), _client() as client:
        page = client.get("/prompts")
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{len(page['data'])} prompt(s)", title_justify="left")
    for column in ("name", "latest", "tags", "description"):
        table.add_column(column, overflow="fold")
    for prompt in page["data"]:
        tags = ", ".join(f"{tag}→{version}" for tag, version in sorted(prompt["tags"].items()))
        table.add_row(
            Text(prompt["name"]), str(prompt["latest_version"]), Text(tags), Text(prompt["description"] or "")
        )
    Console().print(table)


@prompts_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION, NAME@TAG or NAME@latest.")],
    json_output: JsonFlag = False,
    yaml_output: Annotated[bool, typer.Option("--yaml", help="Print it as a prompt file (push-able).")] = False,
) -> None:
    """Show one version: model, parameters, tags and messages."""
    name, _, at = ref.partition("@")
    if not name:
        raise typer.BadParameter("give NAME, NAME@VERSION or NAME@TAG")
    with exit_on_client_error(), _client() as client:
        data = client.get(f"/prompts/{_q(name)}/versions/{_q(at or 'latest')}")
        description = client.get(f"/prompts/{_q(name)}")["description"] if yaml_output else None
    if json_output:
        typer.echo(json.dumps(data, indent=2))
        return
    version = PromptVersion.model_validate(data)
    if yaml_output:
        content = prompt_file_content(version, description=description)
        typer.echo(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), nl=False)
        return
    Console().print(_version_panel(version))


@prompts_app.command("versions")
def versions(name: Name, json_output: JsonFlag = False) -> None:
    """A prompt's versions, newest first."""
    with exit_on_client_error(), _client() as client:
        page = client.get(f"/prompts/{_q(name)}/versions")
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{name}: {len(page['data'])} version(s)", title_justify="left")
    for column in ("version", "created (UTC)", "tags", "model", "message", "hash"):
        table.add_column(column, overflow="fold")
    for v in page["data"]:
        table.add_row(
            str(v["version"]),
            v["created_at"][:19].replace("T", " "),
            Text(", ".join(v["tags"])),
            Text(v["model_name"] or ""),
            Text(v["commit_message"] or ""),
            v["content_hash"][7:19],
        )
    Console().print(table)


@prompts_app.command("diff")
def diff(
    name: Name,
    a: Annotated[int, typer.Argument(min=1, help="The older version.")],
    b: Annotated[int, typer.Argument(min=1, help="The newer version.")],
    json_output: JsonFlag = False,
) -> None:
    """What changed between two versions: the messages as a unified diff, then every other field."""
    with exit_on_client_error(), _client() as client:
        result = client.get(f"/prompts/{_q(name)}/diff", params={"a": a, "b": b})
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console(highlight=False)
    if result["identical"]:
        console.print(f"{name}@{a} and {name}@{b} have identical content")
        return
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in result["template_diff"]:
        console.print(Text(line, style=styles.get(line[:1], "")))
    for change in result["changes"]:
        before, after = json.dumps(change["before"]), json.dumps(change["after"])
        console.print(Text(f"{change['path']}: {before} → {after}"))


@prompts_app.command("tag")
def tag(
    name: Name,
    version: Annotated[int, typer.Argument(min=1, help="The version the tag should point at.")],
    tag_name: Annotated[str, typer.Argument(metavar="TAG", help="production, staging, or any name.")],
    note: Annotated[str | None, typer.Option(help="Why (kept in the tag's history).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Point a tag at a version (rolling back is tagging an older one); the move is kept in the history."""
    with exit_on_client_error(), _client() as client:
        move = client.put(f"/prompts/{_q(name)}/tags/{_q(tag_name)}", json={"version": version, "note": note})
    if json_output:
        typer.echo(json.dumps(move, indent=2))
        return
    before = "new" if move["from_version"] is None else str(move["from_version"])
    typer.echo(f"{name} {tag_name}: {before} → {move['to_version']}")


@prompts_app.command("history")
def history(
    name: Name,
    tag_name: Annotated[str | None, typer.Option("--tag", help="Only this tag's moves.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Every tag move of a prompt, newest first."""
    with exit_on_client_error(), _client() as client:
        moves = client.get(f"/prompts/{_q(name)}/tag-moves", params={"tag": tag_name} if tag_name else None)
    if json_output:
        typer.echo(json.dumps(moves, indent=2))
        return
    table = Table(title=f"{name}: {len(moves)} tag move(s)", title_justify="left")
    for column in ("when (UTC)", "tag", "from", "to", "note"):
        table.add_column(column, overflow="fold")
    for m in moves:
        before = "" if m["from_version"] is None else str(m["from_version"])
        table.add_row(
            m["moved_at"][:19].replace("T", " "), Text(m["tag"]), before, str(m["to_version"]), Text(m["note"] or "")
        )
    Console().print(table)


def _version_panel(version: PromptVersion) -> Panel:
    lines: list[Any] = []
    facts = {
        "model": " / ".join(x for x in (version.model_provider, version.model_name) if x) or "(not set)",
        "tags": ", ".join(version.tags) or "(none)",
        "parameters": json.dumps(version.invocation_parameters) if version.invocation_parameters else "(none)",
        "created": version.created_at.isoformat(timespec="seconds"),
        "message": version.commit_message or "",
        "hash": version.content_hash,
    }
    lines += [Text(f"{key}: {value}") for key, value in facts.items()]
    if version.tools:
        lines.append(Text(f"tools: {', '.join(_tool_name(t) for t in version.tools)}"))
    if version.response_format:
        lines.append(Text(f"response_format: {version.response_format.get('type')}"))
    for message in version.template:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        lines.append(Panel(Text(text or ""), title=str(message.get("role")), title_align="left"))
    return Panel(Group(*lines), title=version.ref, title_align="left")


def _tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    return str(function.get("name")) if isinstance(function, dict) else str(tool.get("type"))


def _client() -> SpanlabClient:
    return SpanlabClient.from_settings(cli_settings())


def _q(part: str) -> str:
    return quote(part, safe="")
