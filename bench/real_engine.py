"""The inspector's flows against a real llama.cpp server, through the gateway (`make real-engine`).

Not part of `make test`: it compiles llama.cpp (llama-cpp-python from PyPI, minutes on two
cores) into a venv of its own, builds a tiny random-weight model (bench/real_engine_model.py, no
model can be downloaded here), starts `python -m llama_cpp.server`, registers it as an upstream of
a fresh stack and makes the calls the browser makes. It prints one row per flow: works / partly /
not supported, with the evidence. The table in docs/inspector.md comes from this.

    python -m bench.real_engine [--engine-dir DIR] [--server-url URL]

`--server-url` checks an engine already running instead (e.g. a llama-server with a real model).
"""

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from tests.support.backends import fresh_database, start_backends
from tests.support.chat import WEATHER_TOOL
from tests.support.clients import login
from tests.support.completions import (
    new_session,
    read_sse,
    recorded_answer,
    register,
    session_messages,
    wait_running,
)
from tests.support.stack import base_env, running_stack

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
VOCAB = "vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
MODEL = "real-llamacpp-tiny"
TOOL = WEATHER_TOOL
# No strings: a random-weight model under a grammar rarely closes one within max_tokens.
SCHEMA = {
    "type": "object",
    "properties": {"age": {"type": "integer"}, "ok": {"type": "boolean"}},
    "required": ["age", "ok"],
}
Row = tuple[str, str, str]  # flow, verdict, evidence


# --- the engine ------------------------------------------------------------------------------
def prepare_engine(engine_dir: Path) -> tuple[Path, Path]:
    """A venv with llama-cpp-python[server] and gguf, and the tiny model; both kept for reruns."""
    python = engine_dir / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(engine_dir / "venv")], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    env = {"CMAKE_ARGS": "-DGGML_NATIVE=OFF", "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
    probe = subprocess.run([str(python), "-c", "import llama_cpp.server, gguf"], check=False)
    if probe.returncode != 0:
        subprocess.run([*pip, f"{LLAMA_CPP_PYTHON}[server]", "gguf", "numpy"], check=True, env=env)
    model = engine_dir / "tiny.gguf"
    if not model.exists():
        vocab = engine_dir / "vocab.gguf"
        if not vocab.exists():
            extract_vocab(python, engine_dir, vocab)
        builder = Path(__file__).with_name("real_engine_model.py")
        subprocess.run([str(python), str(builder), str(vocab), str(model)], check=True)
    return python, model


def extract_vocab(python: Path, engine_dir: Path, out: Path) -> None:
    """llama.cpp's vocab-only file for the llama SPM tokenizer, from the sdist."""
    download = [str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*download, "-d", str(engine_dir), LLAMA_CPP_PYTHON], check=True)
    [sdist] = engine_dir.glob("llama_cpp_python-*.tar.gz")
    with tarfile.open(sdist) as archive:
        [member] = [m for m in archive.getmembers() if m.name.endswith(VOCAB)]
        source = archive.extractfile(member)
        assert source is not None
        out.write_bytes(source.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def llama_server(python: Path, model: Path, log: Path) -> Iterator[str]:
    port = free_port()
    command = [str(python), "-m", "llama_cpp.server", "--model", str(model), "--port", str(port),
               "--model_alias", MODEL, "--n_ctx", "2048", "--logits_all", "true"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- the flows, through the gateway ----------------------------------------------------------
async def turn(client: httpx.AsyncClient, session_id: str, body: dict[str, Any]) -> Any:
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": MODEL, "stream": True, **body},
        headers={"X-Chat-Session-Id": session_id, "X-Cortex-Metrics": "true"},
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {(await response.aread())[:300]!r}")
        return await read_sse(response)


async def check_exchange_and_logprobs(user: httpx.AsyncClient) -> list[Row]:
    session_id = await new_session(user, MODEL)
    body = {"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8,
            "logprobs": True, "top_logprobs": 3, "seed": 42, "temperature": 0.3}  # fmt: skip
    await turn(user, session_id, body)
    answer = await recorded_answer(user, session_id)
    inspect = answer["metrics_json"]["inspect"]
    rows: list[Row] = []
    sent = inspect["request"]["body"]
    exchange_ok = inspect["response"]["status"] == 200 and sent["seed"] == 42
    rows.append(("raw exchange (request, response head, first/last chunk)",
                 "works" if exchange_ok else "partly",
                 f"status {inspect['response']['status']}, content-type "
                 f"{inspect['response']['headers'].get('content-type')!r}, last chunk "
                 f"{inspect['last_chunk'][:90]!r}"))  # fmt: skip
    usage = inspect.get("usage") or {}
    rows.append(("usage in the stream (`stream_options.include_usage`)",
                 "works" if usage.get("completion_tokens") else "not supported",
                 f"usage = {json.dumps(usage) if usage else 'none in any chunk'}"))  # fmt: skip
    fingerprint = inspect.get("system_fingerprint")
    rows.append(
        (
            "system_fingerprint, model id",
            "works" if fingerprint else "partly",
            f"system_fingerprint = {fingerprint!r}, model = {inspect.get('model_id')!r}",
        )
    )
    logprobs = inspect["logprobs"]
    content = logprobs.get("content") or []
    tops = {len(t.get("top_logprobs") or []) for t in content}
    joined = "".join(t["token"] for t in content)
    verdict = "works" if content and tops == {3} and joined == answer["content"] else (
        "partly" if content else "not supported")  # fmt: skip
    rows.append(
        (
            "token view: logprobs + top_logprobs=3 in stream chunks",
            verdict,
            f"returned={logprobs.get('returned')}, {len(content)} tokens, top sizes "
            f"{sorted(tops)}, tokens join to the answer: {joined == answer['content']}",
        )
    )
    return rows


async def check_structured_output(user: httpx.AsyncClient) -> list[Row]:
    openai_form = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": SCHEMA, "strict": True},
    }
    # llama-cpp-python's own form (OpenAI's older JSON mode with a `schema` beside it).
    llama_form = {"type": "json_object", "schema": SCHEMA}
    # llama's form first: the gateway takes a model out for a while after its 5xx answers.
    return [
        await batch("structured output: json_object + schema", user, llama_form),
        await batch("structured output: response_format json_schema", user, openai_form),
    ]


async def batch(label: str, user: httpx.AsyncClient, response_format: dict[str, Any]) -> Row:
    valid = 0
    texts: list[str] = []
    for seed in range(5):  # the batch's calls: not streamed, outside the chat, seed + i
        answer = await user.post("/v1/chat/completions", json={
            "model": MODEL, "seed": seed, "max_tokens": 60, "response_format": response_format,
            "messages": [{"role": "user", "content": "A person as JSON"}]})  # fmt: skip
        if answer.status_code != 200:
            texts.append(f"HTTP {answer.status_code}: {answer.text[:120]}")
            continue
        text = answer.json()["choices"][0]["message"]["content"] or ""
        texts.append(text)
        try:
            jsonschema.validate(json.loads(text), SCHEMA)
            valid += 1
        except (ValueError, jsonschema.ValidationError):
            pass
    verdict = "works" if valid == 5 else ("partly" if valid else "not supported")
    return (f"{label} (batch of 5)", verdict, f"{valid}/5 valid; e.g. {texts[0][:140]!r}")


async def check_tools(user: httpx.AsyncClient) -> list[Row]:
    rows: list[Row] = []
    asked = [{"role": "user", "content": "What is the weather in Oslo?"}]
    for choice in ("auto", {"type": "function", "function": {"name": "get_weather"}}):
        session_id = await new_session(user, MODEL)
        body = {"messages": asked, "tools": [TOOL], "tool_choice": choice, "max_tokens": 40}
        await turn(user, session_id, body)
        answer = await recorded_answer(user, session_id)
        calls = answer["metrics_json"]["inspect"].get("tool_calls") or []
        finish = answer["metrics_json"].get("finish_reason")
        label = "auto" if choice == "auto" else "forced"
        verdict = (
            "works"
            if calls and finish == "tool_calls"
            else ("partly" if calls else "not supported")
        )
        rows.append(
            (
                f"tool calls, tool_choice {label}",
                verdict,
                f"{len(calls)} call(s) {json.dumps(calls)[:120]}, finish_reason {finish!r}",
            )
        )
        if calls:
            rows.append(await answer_tool_by_hand(user, session_id, asked, calls))
    return rows


async def answer_tool_by_hand(
    user: httpx.AsyncClient, session_id: str, asked: list[dict[str, Any]], calls: list[Any]
) -> Row:
    history = [
        *asked,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "rain, 9 C"},
    ]
    try:
        await turn(user, session_id, {"messages": history, "tools": [TOOL], "max_tokens": 20})
    except RuntimeError as refused:
        return ("tool call answered by hand", "not supported", str(refused)[:600])
    stored = await session_messages(user, session_id)
    roles = [m["role"] for m in stored]
    verdict = "works" if roles == ["user", "assistant", "tool", "assistant"] else "partly"
    return ("tool call answered by hand", verdict, f"stored roles {roles}")


async def check_prompt_tokens(user: httpx.AsyncClient) -> list[Row]:
    answer = await user.post(
        f"/v1/models/{MODEL}/tokenize",
        json={"messages": [{"role": "user", "content": "Say hello"}], "with_tokens": True},
    )
    data = answer.json()
    verdict = "works" if data.get("tokens") else "not supported"
    return [
        (
            "prompt tokens (`/v1/models/{name}/tokenize`, with_tokens)",
            verdict,
            f"HTTP {answer.status_code}: count {data.get('count')}, exact "
            f"{data.get('exact')}, tokens {data.get('tokens')!r}",
        )
    ]


async def check(server_url: str, engine_type: str) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="real-engine-"))
    with start_backends(work) as backends, fresh_database(backends.postgres_url) as database:
        env = base_env(backends.nats_url, database)
        env["CORTEX_LOG_LEVEL"] = "WARNING"
        # llama-cpp-python answers one request at a time: a probe waits behind a generation.
        env["CORTEX_HEALTH_POLL_SEC"] = "15"
        env["CORTEX_HEALTH_PROBE_TIMEOUT_SEC"] = "10"
        env["CORTEX_HEALTH_CHECK_TTL_SEC"] = "60"
        with running_stack(env, work) as stack:
            admin = await login(stack.gateway_url, "admin", stack.admin_password)
            await register(admin, MODEL, f"{server_url}/v1", engine_type)
            await wait_running(admin, {MODEL})
            user = await login(stack.gateway_url, *stack.create_user())
            rows: list[Row] = []
            for flow in (check_exchange_and_logprobs, check_structured_output, check_tools,
                         check_prompt_tokens):  # fmt: skip
                try:
                    await wait_running(admin, {MODEL})
                    rows += await flow(user)
                except Exception as failed:  # one flow's failure is a finding, not the end
                    rows.append((flow.__name__, "failed", f"{type(failed).__name__}: {failed}"))
            await user.aclose()
            await admin.aclose()
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| flow | result | evidence |", "|---|---|---|"]
    lines += [f"| {flow} | {verdict} | {evidence.replace('|', '/')} |"
              for flow, verdict, evidence in rows]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine-dir", type=Path, default=Path.home() / ".cache" / "cortex-llama")
    parser.add_argument("--server-url", help="an engine already running (skips the build)")
    parser.add_argument("--engine-type", default="openai", help="as registered in the gateway")
    args = parser.parse_args()
    if args.server_url:
        rows = asyncio.run(check(args.server_url, args.engine_type))
    else:
        args.engine_dir.mkdir(parents=True, exist_ok=True)
        python, model = prepare_engine(args.engine_dir)
        with llama_server(python, model, args.engine_dir / "server.log") as url:
            rows = asyncio.run(check(url, args.engine_type))
    print(table(rows))


if __name__ == "__main__":
    main()
