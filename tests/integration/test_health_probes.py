"""Engine-aware probes against a real simulator over HTTP (vLLM, llama.cpp, plain OpenAI)."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cortex_contracts.events.models import Upstream
from cortex_devstack.ports import free_port
from cortex_health.probes import probe
from cortex_simulator.models import ModelConfig
from tests.support.simulator import serving

pytestmark = pytest.mark.integration

VLLM, LLAMA, OPENAI = "p-vllm", "p-llama", "p-openai"
MODELS = [
    ModelConfig(name=VLLM, personality="vllm", max_context=4096),
    ModelConfig(name=LLAMA, personality="llamacpp", max_context=16384, slots=2),
    ModelConfig(name=OPENAI, personality="openai"),
]
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with serving(MODELS) as base:
        yield base


@pytest.fixture
async def client(simulator: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as probing:
        yield probing
    async with httpx.AsyncClient(base_url=simulator) as control:
        for model in (VLLM, LLAMA, OPENAI):
            (await control.post(f"/_control/{model}/reset")).raise_for_status()


def upstream(simulator: str, name: str, engine: str, suffix: str = "") -> Upstream:
    return Upstream.model_validate(
        {"served_model_name": name, "base_url": f"{simulator}/m/{name}{suffix}",
         "engine_type": engine}
    )  # fmt: skip


async def fault(simulator: str, model: str, **settings: bool) -> None:
    async with httpx.AsyncClient(base_url=simulator) as control:
        (await control.post(f"/_control/{model}", json=settings)).raise_for_status()


@pytest.mark.parametrize(
    ("name", "engine", "context"),
    [(VLLM, "vllm", 4096), (LLAMA, "llamacpp", 8192), (OPENAI, "openai", None)],
)
async def test_a_healthy_server_is_healthy_with_its_context_length(
    simulator: str, client: httpx.AsyncClient, name: str, engine: str, context: int | None
) -> None:
    result = await probe(client, upstream(simulator, name, engine), TIMEOUT)

    assert result.status == "healthy"
    assert result.error is None
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.max_model_len == context


async def test_a_base_url_ending_in_v1_is_probed_at_the_server_root(
    simulator: str, client: httpx.AsyncClient
) -> None:
    result = await probe(client, upstream(simulator, VLLM, "vllm", "/v1"), TIMEOUT)

    assert result.status == "healthy"
    assert result.max_model_len == 4096


async def test_llamacpp_loading_its_model_is_loading_not_healthy(
    simulator: str, client: httpx.AsyncClient
) -> None:
    await fault(simulator, LLAMA, loading=True)

    result = await probe(client, upstream(simulator, LLAMA, "llamacpp"), TIMEOUT)

    assert result.status == "loading"
    assert result.error is not None and "Loading model" in result.error
    assert result.max_model_len is None


async def test_a_down_vllm_server_is_unhealthy_with_the_reason(
    simulator: str, client: httpx.AsyncClient
) -> None:
    await fault(simulator, VLLM, down=True)

    result = await probe(client, upstream(simulator, VLLM, "vllm"), TIMEOUT)

    assert result.status == "unhealthy"
    assert result.error is not None and result.error.startswith("/health answered 503")


@pytest.mark.parametrize(
    ("name", "engine"), [(VLLM, "vllm"), (LLAMA, "llamacpp"), (OPENAI, "openai")]
)
async def test_a_hung_server_is_unhealthy_once_the_timeout_passes(
    simulator: str, client: httpx.AsyncClient, name: str, engine: str
) -> None:
    await fault(simulator, name, hang=True)

    result = await probe(client, upstream(simulator, name, engine), TIMEOUT)

    assert result.status == "unhealthy"
    assert result.error == "no answer within 0.5 s"
    assert result.latency_ms is None


async def test_a_server_nobody_listens_on_is_unhealthy(client: httpx.AsyncClient) -> None:
    closed = Upstream.model_validate(
        {"served_model_name": "gone", "base_url": f"http://127.0.0.1:{free_port()}",
         "engine_type": "vllm"}
    )  # fmt: skip

    result = await probe(client, closed, TIMEOUT)

    assert result.status == "unhealthy"
    assert result.error is not None and "ConnectError" in result.error
