"""Pure logic of the simulator: tokenizer, deterministic answers, exact lengths, config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cortex_simulator.__main__ import main
from cortex_simulator.answers import (
    TEMPLATES,
    build_answer,
    extract_echo,
    template_answer,
    template_index,
)
from cortex_simulator.completions import ChatRequest, plan_answer
from cortex_simulator.control import ControlUpdate, apply_update
from cortex_simulator.errors import SimulatedError
from cortex_simulator.formats import ChunkFormat
from cortex_simulator.models import DEFAULT_MODELS, ModelConfig, ModelState
from cortex_simulator.settings import ConfigError, Settings, load_models, load_settings
from cortex_simulator.tokens import (
    GENERATION_PROMPT_OVERHEAD,
    MESSAGE_OVERHEAD,
    count_prompt_tokens,
    count_tokens,
    prompt_token_ids,
    split_pieces,
    token_ids,
)

pytestmark = pytest.mark.unit


# --- tokenizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("hello", 1),
        ("hello world", 2),
        ("Hello, world!", 4),
        ("a_b c-d", 4),
        ("## Title", 3),
        ("<script>alert(1)</script>", 11),
        ("héllo wörld", 2),
    ],
)
def test_count_tokens(text: str, expected: int) -> None:
    assert count_tokens(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "  leading and trailing  \n",
        "```python\nprint('x')\n```",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "<img src=x onerror=alert(1)>",
        "",
        "   ",
    ],
)
def test_split_pieces_round_trip(text: str) -> None:
    pieces = split_pieces(text)
    assert len(pieces) == count_tokens(text)
    if pieces:
        assert "".join(pieces) == text
    for n in range(len(pieces) + 1):
        assert count_tokens("".join(pieces[:n])) == n


def test_token_ids_are_stable() -> None:
    assert token_ids("Hello, world") == token_ids("Hello, world")
    assert len(token_ids("Hello, world")) == 3
    assert token_ids("a b") != token_ids("b a")


def test_prompt_token_count_matches_ids() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi there!"},
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "image"}]},
        {"role": "assistant", "content": None},
    ]
    expected = (
        sum(count_tokens(t) for t in ["You are helpful.", "Hi there!", "part one", ""])
        + 4 * MESSAGE_OVERHEAD
        + GENERATION_PROMPT_OVERHEAD
    )
    assert count_prompt_tokens(messages) == expected
    assert len(prompt_token_ids(messages)) == expected
    no_gen = count_prompt_tokens(messages, add_generation_prompt=False)
    assert no_gen == expected - GENERATION_PROMPT_OVERHEAD


# --- answers ---------------------------------------------------------------------------------


def test_templates_are_markdown_rich() -> None:
    for template in TEMPLATES:
        assert re.search(r"^#{1,3} \S", template, re.M), "heading"
        assert re.search(r"^[-*] \S", template, re.M), "bulleted list"
        assert re.search(r"^\|.*\|\n\|[-:| ]+\|", template, re.M), "table"
        assert re.search(r"^```[a-z]+\n.*?^```", template, re.M | re.S), "fenced code + language"


def test_template_choice_is_stable_and_cycles() -> None:
    assert template_index("hello") == template_index("hello")
    chosen = {template_index(f"question {i}") for i in range(64)}
    assert chosen == set(range(len(TEMPLATES)))


@pytest.mark.parametrize("index", range(len(TEMPLATES)))
def test_template_answer_exact_lengths(index: int) -> None:
    for n in (1, 2, 3, 7, 50, 120, 160, 400, 1000):
        pieces = template_answer(index, n)
        assert len(pieces) == n
        assert count_tokens("".join(pieces)) == n


def test_answer_is_deterministic() -> None:
    a = build_answer("Explain TCP", 120, None)
    b = build_answer("Explain TCP", 120, None)
    assert a == b
    assert a.finish_reason == "stop"
    assert a.completion_tokens == 120
    assert count_tokens(a.text) == 120
    assert "```" in a.text


def test_answer_cut_by_cap() -> None:
    answer = build_answer("Explain TCP", 120, 17)
    assert answer.finish_reason == "length"
    assert answer.completion_tokens == 17
    assert count_tokens(answer.text) == 17
    assert answer.text == build_answer("Explain TCP", 120, None).text[: len(answer.text)]


def test_answer_cap_above_length_is_stop() -> None:
    answer = build_answer("Explain TCP", 30, 100)
    assert answer.finish_reason == "stop"
    assert answer.completion_tokens == 30


def test_echo() -> None:
    payload = "<script>alert('xss')</script> & \"quotes\""
    assert extract_echo(f"please echo: {payload}") == payload
    assert extract_echo("no marker") is None
    answer = build_answer(f"echo: {payload}", 120, None)
    assert answer.text == payload
    assert answer.finish_reason == "stop"
    assert answer.completion_tokens == count_tokens(payload)
    cut = build_answer(f"echo: {payload}", 120, 3)
    assert cut.text == "<script>"
    assert cut.finish_reason == "length"


def test_reasoning_comes_first_and_counts() -> None:
    answer = build_answer("think", 40, None, reasoning_tokens=8)
    assert len(answer.reasoning) == 8
    assert len(answer.content) == 32
    assert answer.completion_tokens == 40
    cut = build_answer("think", 40, 5, reasoning_tokens=8)
    assert (len(cut.reasoning), len(cut.content), cut.finish_reason) == (5, 0, "length")
    capped = build_answer("think", 10, None, reasoning_tokens=100)
    assert len(capped.reasoning) == 5


# --- request planning ------------------------------------------------------------------------


def _state(**kwargs: object) -> ModelState:
    config = ModelConfig.model_validate({"name": "m", "max_context": 64, **kwargs})
    return ModelState(config)


def _req(content: str, **kwargs: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": content}], **kwargs}
    )


def test_plan_counts_and_limits() -> None:
    state = _state(output_tokens=20)
    prompt, answer = plan_answer(state, _req("hello there"))
    assert prompt == 2 + MESSAGE_OVERHEAD + GENERATION_PROMPT_OVERHEAD
    assert answer.completion_tokens == 20
    _, cut = plan_answer(state, _req("hello", max_tokens=5))
    assert (cut.completion_tokens, cut.finish_reason) == (5, "length")
    _, cut2 = plan_answer(state, _req("hello", max_tokens=50, max_completion_tokens=4))
    assert cut2.completion_tokens == 4


def test_plan_context_errors() -> None:
    state = _state()
    with pytest.raises(SimulatedError) as too_long:
        plan_answer(state, _req("word " * 100))
    assert too_long.value.status == 400
    assert too_long.value.message.startswith("This model's maximum context length is 64 tokens")
    with pytest.raises(SimulatedError):
        plan_answer(state, _req("hi", max_tokens=100))
    with pytest.raises(SimulatedError):
        plan_answer(state, _req("hi", max_tokens=0))
    with pytest.raises(SimulatedError) as wrong_model:
        plan_answer(state, _req("hi", model="other"))
    assert wrong_model.value.status == 404


def test_llamacpp_uses_per_slot_context_and_cuts() -> None:
    state = _state(personality="llamacpp", max_context=256, slots=4, output_tokens=100)
    assert state.config.context_per_request == 64
    prompt, answer = plan_answer(state, _req("hi", max_tokens=500, model="anything"))
    assert answer.finish_reason == "length"
    assert prompt + answer.completion_tokens == 64


def test_chunk_format_is_valid_json() -> None:
    import json

    for personality in ("vllm", "llamacpp", "openai"):
        fmt = ChunkFormat(personality, "id-1", 123, "m")
        for raw in (
            fmt.role(),
            fmt.delta("content", 'a "quoted" </script>\n'),
            fmt.finish("stop", {"timings": {"x": 1}}),
            fmt.usage({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
        ):
            assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
            obj = json.loads(raw[6:])
            assert obj["id"] == "id-1" and obj["object"] == "chat.completion.chunk"


# --- control and config ----------------------------------------------------------------------


def test_control_partial_update_and_reset() -> None:
    state = _state(ttft_ms=10)
    apply_update(state, ControlUpdate.model_validate({"fail_status": 500, "ttft_ms": 99}))
    assert state.faults.fail_status == 500
    assert state.timing.ttft_ms == 99
    apply_update(state, ControlUpdate.model_validate({"hang": True}))
    assert state.faults.fail_status == 500 and state.faults.hang
    apply_update(state, ControlUpdate.model_validate({"fail_status": None, "ttft_ms": None}))
    assert state.faults.fail_status is None
    assert state.timing.ttft_ms == 10
    state.counters.cancelled_streams = 3
    faults = state.faults
    state.reset()
    assert not state.faults.hang and state.counters.cancelled_streams == 0
    assert state.faults is faults, "running streams watch the same Faults object"


def test_default_models() -> None:
    models = load_models(Settings())
    assert [m.name for m in models] == ["sim-vllm-small", "sim-llamacpp-large"]
    llama = DEFAULT_MODELS[1]
    assert (llama.max_context, llama.slots, llama.context_per_request) == (131072, 4, 32768)
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8090)


def test_models_file(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - {name: a, personality: openai, output_tokens: 5}\n"
        "  - {name: b, personality: llamacpp, max_context: 4096, slots: 2, reasoning: true}\n"
    )
    models = load_models(Settings(models_file=path))
    assert [(m.name, m.personality) for m in models] == [("a", "openai"), ("b", "llamacpp")]
    assert models[1].context_per_request == 2048


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("models: [{name: a, personality: tgi}]", "personality"),
        ("models: [{name: a}, {name: a}]", "duplicate"),
        ("not: a list", "models: [...]"),
        ("models: [{name: a, bogus: 1}]", "bogus"),
        ("models: [", "not valid YAML"),
    ],
)
def test_invalid_models_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as exc:
        load_models(Settings(models_file=path))
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_file_and_bad_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_models(Settings(models_file=tmp_path / "nope.yaml"))
    monkeypatch.setenv("SIMULATOR_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def test_main_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models: [{name: a, max_context: 1}]")
    monkeypatch.setenv("CORTEX_SIMULATOR_MODELS_FILE", str(path))
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cortex-simulator: ")
