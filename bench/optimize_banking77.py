"""Prompt optimization, offline: a Banking77 intent prompt improved with the embedded local model.

Run: ``.venv/bin/python -m bench.optimize_banking77 [--intents A,B,C,D] [--per-intent 40] [--seed 7]``.

What it does, through the product's own surfaces: start ``spanlab serve`` (no provider configured, so the task
model and the reasoning model are both the local SmolLM2-135M), push the starting prompt (a system instruction
listing the intents + the question), create a dataset of ``--per-intent`` questions of each intent drawn with
``--seed`` from Banking77's training file, and ``POST /api/v1/optimizations`` with a fixed seed. It follows the
run, then reads the test runs of the starting prompt and of the winner (stored as experiments) and prints
baseline vs optimized **test** accuracy with 95% bootstrap intervals, the paired difference with its interval
and McNemar's p, the rollouts spent and the wall time. The result and the score history (SVG) are written to
``--output-dir``.

Data: Banking77 (PolyAI, CC-BY-4.0; Casanueva et al. 2020, "Efficient Intent Detection with Dual Sentence
Encoders"), read from ``../shared/data/banking77/train.csv`` beside the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.server import BenchError, ServerProcess, start_server
from bench.table import format_table
from replay.stats import paired_bootstrap

__all__ = ["main"]

BANKING77 = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77" / "train.csv"
# Four card intents customers (and models) mix up: has my card come, when will it come, how to activate it,
# and it is lost.
DEFAULT_INTENTS = ("card_arrival", "card_delivery_estimate", "activate_my_card", "lost_or_stolen_card")
PROMPT = "banking77-intents"
POLL_SECONDS = 2.0


def load_examples(intents: list[str], per_intent: int, seed: int) -> list[dict[str, Any]]:
    """``per_intent`` questions of each intent, drawn with ``seed``, as dataset examples."""
    if not BANKING77.exists():
        raise SystemExit(f"Banking77 not found at {BANKING77}; see bench/README.md")
    with BANKING77.open(newline="", encoding="utf-8") as f:
        rows = [(row["text"].strip(), row["category"]) for row in csv.DictReader(f)]
    rng = random.Random(seed)
    examples = []
    for intent in intents:
        questions = sorted(text for text, category in rows if category == intent)
        if len(questions) < per_intent:
            raise SystemExit(f"intent {intent!r} has {len(questions)} questions in Banking77, fewer than {per_intent}")
        examples += [{"input": {"question": q}, "expected_output": intent} for q in rng.sample(questions, per_intent)]
    return examples


def setup(client: httpx.Client, intents: list[str], examples: list[dict[str, Any]], seed: int) -> None:
    """Push the starting prompt and create the dataset."""
    instruction = "Classify the customer's banking question. Answer with exactly one of: " + ", ".join(intents) + "."
    prompt = {
        "name": PROMPT,
        "messages": [{"role": "system", "content": instruction}, {"role": "user", "content": "{{question}}"}],
        "model_provider": "local",
        "model_name": "smollm2-135m",
        "parameters": {"max_tokens": 16, "temperature": 0, "seed": seed},
    }
    _ok(client.post("/api/v1/prompts", json=prompt))
    _ok(client.put(f"/api/v1/prompts/{PROMPT}/tags/production", json={"version": 1}))
    _ok(client.post("/api/v1/datasets", json={"name": PROMPT}))
    _ok(client.post(f"/api/v1/datasets/{PROMPT}/examples", json={"examples": examples}))


def optimize(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """Start the optimization, print its messages as they come, return the finished run."""
    body = {
        "prompt": f"{PROMPT}@production",
        "dataset": PROMPT,
        "evaluators": [{"name": "exact_match", "options": {"case_insensitive": "true", "strip_punctuation": "true"}}],
        "max_iterations": args.max_iterations,
        "budget_rollouts": args.budget_rollouts,
        "minibatch_size": args.minibatch_size,
        "split": [0.3, 0.2, 0.5],
        "seed": args.seed,
        "demos": args.demos,
        "jobs": 2,
        "retries": 1,
        "timeout_seconds": 900,
        "reflection_parameters": {"max_tokens": 384, "temperature": 0.7, "seed": args.seed},
        "tag": "staging",
    }
    run = _ok(client.post("/api/v1/optimizations", json=body))
    shown = 0
    while run["status"] == "running":
        time.sleep(POLL_SECONDS)
        run = _ok(client.get(f"/api/v1/optimizations/{run['id']}"))
        messages = run["progress"]["messages"]
        for message in messages[min(shown, len(messages)) :]:
            print(f"  {message}", flush=True)
        shown = len(messages)
    return run


def test_scores(client: httpx.Client, experiment_id: str) -> dict[str, float]:
    """Example id → 1/0 from a stored test experiment's runs."""
    page = _ok(client.get(f"/api/v1/experiments/{experiment_id}/runs", params={"limit": 1000}))
    scores = {}
    for run in page["data"]:
        evaluation = run["evaluations"][0] if run["evaluations"] else None
        scores[run["example_id"]] = 1.0 if evaluation and evaluation.get("passed") else 0.0
    return scores


def report(client: httpx.Client, run: dict[str, Any], wall: float, load: str) -> str:
    result = run["result"]
    test = result["test_score"]
    baseline = test_scores(client, test["baseline_experiment_id"])
    best = test_scores(client, test["best_experiment_id"]) if test["best_experiment_id"] else baseline
    keys = sorted(baseline)
    before, after = [baseline[k] for k in keys], [best.get(k, 0.0) for k in keys]
    zeros = [0.0] * len(keys)
    base_ci, best_ci = paired_bootstrap(zeros, before, seed=1), paired_bootstrap(zeros, after, seed=1)
    delta = test["interval"]
    winner = next(c for c in result["candidates"] if c["id"] == result["best_candidate_id"])
    usage = result["usage"]
    rows = [
        {"prompt": "starting prompt (c0)", "test accuracy": f"{base_ci.mean_delta:.3f}",
         "95% CI": f"[{base_ci.low:.3f}, {base_ci.high:.3f}]"},
        {"prompt": f"optimized ({winner['id']}, {winner['origin']}, {len(winner['prompt']['demos'])} demos)",
         "test accuracy": f"{best_ci.mean_delta:.3f}", "95% CI": f"[{best_ci.low:.3f}, {best_ci.high:.3f}]"},
        {"prompt": "difference (paired)", "test accuracy": f"{delta['mean_delta']:+.3f}",
         "95% CI": f"[{delta['low']:+.3f}, {delta['high']:+.3f}]"},
    ]  # fmt: skip
    lines = [
        format_table(rows),
        "",
        f"test examples: {test['n']}; McNemar p = {test['mcnemar']['p_value']:.3g} "
        f"({test['mcnemar']['improved']} improved, {test['mcnemar']['regressed']} regressed)",
        f"validation: {result['baseline_score']:.3f} → {result['best_score']:.3f}; "
        f"iterations {result['total_iterations']} (stopped: {result['stop_reason']})",
        f"rollouts: {usage['search_rollouts']} search + {usage['test_rollouts']} test; reflection calls "
        f"{usage['reflection_calls']} ({usage['reflection_failures']} unusable or failed); candidates "
        + ", ".join(f"{c['id']} {c['origin']} {c['status']}" for c in result["candidates"]),
        f"tokens: task {usage['task_input_tokens']}+{usage['task_output_tokens']}, reflection "
        f"{usage['reflection_input_tokens']}+{usage['reflection_output_tokens']}",
        f"wall time: {wall / 60:.1f} min (optimizer {result['wall_seconds'] / 60:.1f} min); "
        f"load average before: {load}",
        f"saved: {run['saved_version']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.optimize_banking77", description=__doc__.split("\n")[0])
    parser.add_argument("--intents", default=",".join(DEFAULT_INTENTS), help="comma-separated Banking77 intents")
    parser.add_argument("--per-intent", type=int, default=40, help="questions per intent (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-iterations", type=int, default=3)
    parser.add_argument("--budget-rollouts", type=int, default=240)
    parser.add_argument("--minibatch-size", type=int, default=6)
    parser.add_argument("--demos", type=int, default=8, help="demonstrations per few-shot candidate")
    parser.add_argument("--output-dir", type=Path, default=Path(".spanlab/bench-optimize"))
    args = parser.parse_args(argv)
    intents = [intent.strip() for intent in args.intents.split(",") if intent.strip()]
    examples = load_examples(intents, args.per_intent, args.seed)
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{len(examples)} Banking77 questions, intents {', '.join(intents)}; seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="spanlab-bench-optimize-") as folder:
        env = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "SPANLAB_PROVIDERS": "{}"}
        server = start_server(Path(folder) / "spanlab.duckdb", log_dir=Path(folder), env=env)
        try:
            run, text = _measure(server, intents, examples, args, load)
        finally:
            server.stop()
    folder_out = args.output_dir / run["id"]
    folder_out.mkdir(parents=True, exist_ok=True)
    (folder_out / "result.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    (folder_out / "score-history.svg").write_text(run.pop("_svg"), encoding="utf-8")
    print(text)
    print(f"result and score history: {folder_out}")


def _measure(
    server: ServerProcess, intents: list[str], examples: list[dict[str, Any]], args: argparse.Namespace, load: str
) -> tuple[dict[str, Any], str]:
    with httpx.Client(base_url=server.http_url, timeout=120, trust_env=False) as client:
        setup(client, intents, examples, args.seed)
        started = time.monotonic()
        run = optimize(client, args)
        wall = time.monotonic() - started
        if run["status"] != "completed":
            raise BenchError(f"the optimization ended {run['status']}: {run.get('error')}")
        run["_svg"] = client.get(f"/api/v1/optimizations/{run['id']}/score-history.svg").text
        return run, report(client, run, wall, load)


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise BenchError(
            f"{response.request.method} {response.request.url.path} → {response.status_code}: {response.text}"
        )
    return response.json()


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
