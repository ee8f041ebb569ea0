"""`cortex-bench run`: a benchmark run from the command line (for CI pipelines).

It asks the gateway to run it (`POST /v1/bench/runs` with the user's API key), so the run obeys
the admin's guard rails and is stored like one started from the browser; it shows the progress,
prints the per-level table, writes the run (with every raw sample) with `--output`, and exits
1 when an SLO given here is missed (2 when the run fails or is cancelled).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cortex_bench.table import render
from cortex_contracts.messages.bench import BenchRunView

POLL_SEC = 0.5
EXIT_SLO_MISSED = 1
EXIT_FAILED = 2


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text}"
        ) from error


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cortex-bench run", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="the gateway, e.g. http://localhost:8084")
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default=os.environ.get("CORTEX_API_KEY"), help="or CORTEX_API_KEY")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=_numbers, help="levels, e.g. 1,4,16 (the default)")
    load.add_argument("--rate", type=_numbers, help="requests/s per level (Poisson arrivals)")
    load.add_argument(
        "--search", type=_numbers, help="LOW,HIGH: largest concurrency meeting the SLOs"
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--requests", type=int, help="requests per level (default 50)")
    size.add_argument("--duration", type=float, help="seconds per level")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", help="one fixed prompt")
    prompt.add_argument("--random-input-len", type=int, help="random prompts of about N words")
    prompt.add_argument("--prompts-file", type=Path, help='JSON Lines: {"prompt": "..."} a line')
    p.add_argument("--random-input-stddev", type=float, default=0.0)
    p.add_argument("--output-len", type=int, default=128, help="max tokens per answer")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slo-ttft-ms", type=float)
    p.add_argument("--slo-tpot-ms", type=float)
    p.add_argument("--slo-e2el-ms", type=float)
    p.add_argument("--slo-attainment", type=float, default=0.9, help="share of good requests")
    p.add_argument("--output", type=Path, help="write the run (JSON, with raw samples) here")
    return p


def read_prompts(path: Path) -> list[str]:
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        text = item.get("prompt") or item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise ValueError(f'{path}:{number}: no "prompt" text')
        prompts.append(text)
    return prompts


def run_body(args: argparse.Namespace) -> dict[str, Any]:
    shape, levels = "concurrency", args.concurrency or [1, 4, 16]
    if args.rate:
        shape, levels = "rate", args.rate
    elif args.search:
        shape, levels = "slo_search", args.search
    prompt: dict[str, Any] = {"kind": "fixed"}
    if args.prompt:
        prompt["text"] = args.prompt
    elif args.random_input_len:
        prompt = {
            "kind": "random",
            "input_len": args.random_input_len,
            "input_len_stddev": args.random_input_stddev,
        }
    elif args.prompts_file:
        prompt = {"kind": "jsonl", "prompts": read_prompts(args.prompts_file)}
    body: dict[str, Any] = {
        "model": args.model,
        "shape": shape,
        "levels": levels,
        "prompt": prompt,
        "output_tokens": args.output_len,
        "seed": args.seed,
        "source": "cli",
        "slo": {
            "ttft_ms": args.slo_ttft_ms,
            "tpot_ms": args.slo_tpot_ms,
            "e2el_ms": args.slo_e2el_ms,
        },
        "slo_attainment": args.slo_attainment,
        "requests_per_level": None if args.duration else (args.requests or 50),
        "duration_per_level_sec": args.duration,
    }
    for name in ("temperature", "top_p"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    return body


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not args.api_key:
        print("cortex-bench: give --api-key or set CORTEX_API_KEY", file=sys.stderr)
        return EXIT_FAILED
    try:
        body = run_body(args)
    except (OSError, ValueError) as error:
        print(f"cortex-bench: {error}", file=sys.stderr)
        return EXIT_FAILED
    headers = {"Authorization": f"Bearer {args.api_key}"}
    with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=30) as client:
        started = client.post("/v1/bench/runs", json=body)
        if started.status_code != 202:
            print(f"cortex-bench: {started.status_code}: {_detail(started)}", file=sys.stderr)
            return EXIT_FAILED
        run_id = started.json()["id"]
        print(f"run {run_id} queued on {args.model}", file=sys.stderr)
        run = _follow(client, run_id)
        print(render(run))
        if args.output:
            exported = client.get(f"/v1/bench/runs/{run_id}/export", params={"format": "json"})
            exported.raise_for_status()
            args.output.write_text(exported.text, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
    if run.summary.status != "complete":
        print(
            f"cortex-bench: the run {run.summary.status}: {run.summary.error or ''}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if run.summary.slo_met is False:
        print("cortex-bench: the SLOs were missed", file=sys.stderr)
        return EXIT_SLO_MISSED
    return 0


def _follow(client: httpx.Client, run_id: str) -> BenchRunView:
    shown = ""
    while True:
        answer = client.get(f"/v1/bench/runs/{run_id}")
        if answer.status_code == 404:  # not seen by the bench service yet
            time.sleep(POLL_SEC)
            continue
        answer.raise_for_status()
        run = BenchRunView.model_validate(answer.json())
        if run.summary.status not in ("queued", "running"):
            if shown:
                print(file=sys.stderr)
            return run
        line = _progress_line(run)
        if line != shown:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
            shown = line
        time.sleep(POLL_SEC)


def _progress_line(run: BenchRunView) -> str:
    p = run.progress
    if run.summary.status == "queued" or p is None:
        return "queued..."
    levels = f"level {p.level + 1}/{p.levels}" if p.levels else f"search step {p.level + 1}"
    total = f"/{p.total}" if p.total else ""
    return f"{levels}: {p.done}{total} requests, {p.elapsed_s:.0f} s ({p.fraction:.0%})"


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:300]
