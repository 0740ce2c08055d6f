"""The ``spanlab`` script: the command runs, and a process that runs the script without calling it — as
``multiprocessing`` does in each normalizer worker — does not load the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("spanlab")


def test_the_spanlab_script_runs_the_command_line() -> None:
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: spanlab" in done.stdout and "serve" in done.stdout


def test_a_worker_running_the_script_as_its_main_module_does_not_load_the_cli() -> None:
    code = (
        "import runpy, sys\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__mp_main__')\n"  # what the spawn start method does
        "print(sorted(name for name in sys.modules if name.split('.')[0] in {'spanlab', 'typer', 'fastapi'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['spanlab', 'spanlab.console']"
