"""``spanlab run [OPTIONS] -- COMMAND [ARGS]...``: run a program with its LLM calls traced, no code change.

The program runs with spanlab's defaults in its environment — the same mechanism as
``opentelemetry-instrument``, whose start-up code it reuses (:mod:`instrumentation.autostart`):

- ``PYTHONPATH`` starts with spanlab's start-up folder (then the current directory, as
  ``opentelemetry-instrument`` does), so every Python process the command starts is traced;
- ``SPANLAB_PROJECT`` (``--project``), ``SPANLAB_CAPTURE_CONTENT`` (``--capture-content/--no-capture-content``);
- ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``_PROTOCOL``, resolved as ``register()`` does (``--endpoint``,
  ``--protocol``, then the ``OTEL_*`` variables, then the collector at ``SPANLAB_URL``);
- ``openai`` is added to ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``: it is the entry-point name of both the
  official and the OpenInference openai instrumentors, which would trace every call a second time.

The command replaces this process (its exit status is the program's). Exit status 2 for a missing
command or a bad option, 127 when the command is not found.
"""

from __future__ import annotations

import os
import shutil
from enum import StrEnum
from typing import Annotated

import typer

from instrumentation.autostart import AUTOSTART_DIR
from instrumentation.config import ClientSettings
from instrumentation.errors import ConfigurationError
from instrumentation.register import resolve_exporter

__all__ = ["run", "run_environment"]

_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_DUPLICATE_INSTRUMENTORS = ("openai",)


class Protocol(StrEnum):
    grpc = "grpc"
    http = "http/protobuf"


def run_environment(
    environ: dict[str, str],
    *,
    project: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    capture_content: bool | None = None,
    cwd: str | None = None,
) -> dict[str, str]:
    """The child's environment (see the module docstring); raises ``ConfigurationError`` for a bad endpoint."""
    env = dict(environ)
    if project is not None:
        if not project.strip():
            raise ConfigurationError("--project must not be empty")
        env["SPANLAB_PROJECT"] = project
    if capture_content is not None:
        env["SPANLAB_CAPTURE_CONTENT"] = "true" if capture_content else "false"
    chosen_protocol, chosen_endpoint = resolve_exporter(
        ClientSettings.from_env(env), endpoint=endpoint, protocol=protocol
    )
    env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = chosen_protocol
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = chosen_endpoint
    paths = [path for path in env.get("PYTHONPATH", "").split(os.pathsep) if path and path != AUTOSTART_DIR]
    here = cwd or os.getcwd()
    if here not in paths:
        paths.insert(0, here)
    env["PYTHONPATH"] = os.pathsep.join([AUTOSTART_DIR, *paths])
    disabled = [name.strip() for name in env.get(_DISABLED, "").split(",") if name.strip()]
    env[_DISABLED] = ",".join([*disabled, *(name for name in _DUPLICATE_INSTRUMENTORS if name not in disabled)])
    return env


def run(
    command: Annotated[list[str], typer.Argument(help="The program to run and its arguments (after --).")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project of the traces (env SPANLAB_PROJECT).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT, else SPANLAB_URL).")
    ] = None,
    protocol: Annotated[
        Protocol | None, typer.Option(help="OTLP protocol (default: http/protobuf, or grpc for port 4317).")
    ] = None,
    capture_content: Annotated[
        bool | None,
        typer.Option("--capture-content/--no-capture-content", help="Record messages (env SPANLAB_CAPTURE_CONTENT)."),
    ] = None,
) -> None:
    """Run COMMAND with every LLM call traced to spanlab: spanlab run -p support-bot -- python app.py"""
    try:
        env = run_environment(
            dict(os.environ),
            project=project,
            endpoint=endpoint,
            protocol=protocol.value if protocol is not None else None,
            capture_content=capture_content,
        )
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    program = shutil.which(command[0], path=env.get("PATH"))
    if program is None:
        typer.echo(f"error: command not found: {command[0]}", err=True)
        raise typer.Exit(127)
    os.execve(program, command, env)
