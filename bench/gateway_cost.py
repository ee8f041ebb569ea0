"""The gateway's CPU split into what each relayed chunk costs and what each request costs.

CPU per chunk depends on the answer's length: every request pays for its accept, parsing, auth,
the upstream request, the usage event and the close, spread over its chunks. So the one-process
gateway serves 200 streams twice, answers of SHORT_TOKENS and of LONG_TOKENS tokens, and a
request's CPU C(n) = R + c·n (n chunks) gives c, the cost of one relayed chunk, and R, the cost
of one request (each with its kernel part). From them: CPU per chunk for any answer length.
"""

from dataclasses import dataclass

import httpx

from bench.gateway_load import LevelResult, measure_gateway
from bench.gateway_stack import MODEL, MODEL_SPEC, Services

STREAMS = 200
SHORT_TOKENS = 1
LONG_TOKENS = 480
SHORT_ROUNDS = 40  # a short answer takes ~0.1 s: more of them, for as many requests' CPU
LONG_ROUNDS = 2
CHUNKS_BEYOND_TOKENS = 2  # the role chunk and the finish chunk (as gateway_load counts)
TARGET_US_PER_CHUNK = 30.0
ANSWER_LENGTHS = (64, 120, 480)


@dataclass(frozen=True)
class CostSplit:
    per_chunk_us: float
    per_chunk_kernel_us: float
    per_request_us: float
    per_request_kernel_us: float

    def us_per_chunk(self, tokens: int) -> float:
        return self.per_chunk_us + self.per_request_us / (tokens + CHUNKS_BEYOND_TOKENS)

    def tokens_for(self, target_us: float) -> int | None:
        """The shortest answer (tokens) at which CPU per chunk is within `target_us`."""
        if self.per_chunk_us >= target_us:
            return None
        chunks = self.per_request_us / (target_us - self.per_chunk_us)
        return max(int(chunks + 0.999) - CHUNKS_BEYOND_TOKENS, 1)


async def measure_split(services: Services, key: str) -> CostSplit:
    gateway = next(g for g in services.gateways if g.workers == 1)
    levels: dict[int, LevelResult] = {}
    async with httpx.AsyncClient(base_url=services.simulator_url) as control:
        for tokens, rounds in ((SHORT_TOKENS, SHORT_ROUNDS), (LONG_TOKENS, LONG_ROUNDS)):
            await control.post(f"/_control/{MODEL}", json={"output_tokens": tokens})
            levels[tokens] = await measure_gateway(
                gateway, key, STREAMS, seed=tokens, rounds=rounds
            )
        await control.post(f"/_control/{MODEL}/reset")
    short, long = levels[SHORT_TOKENS], levels[LONG_TOKENS]
    n_short, n_long = (t + CHUNKS_BEYOND_TOKENS for t in (SHORT_TOKENS, LONG_TOKENS))

    def split(short_sec: float, long_sec: float) -> tuple[float, float]:
        per_short, per_long = short_sec / len(short.streams), long_sec / len(long.streams)
        per_chunk = (per_long - per_short) / (n_long - n_short)
        return per_chunk * 1e6, (per_short - per_chunk * n_short) * 1e6

    chunk, request = split(short.gateway_cpu_sec, long.gateway_cpu_sec)
    chunk_kernel, request_kernel = split(short.gateway_kernel_sec, long.gateway_kernel_sec)
    found = CostSplit(chunk, chunk_kernel, request, request_kernel)
    print(
        f"  cost split: {found.per_chunk_us:.1f} µs per chunk ({found.per_chunk_kernel_us:.1f} "
        f"kernel), {found.per_request_us:.0f} µs per request ({found.per_request_kernel_us:.0f} "
        "kernel)",
        flush=True,
    )
    return found


def report(split: CostSplit) -> list[str]:
    shortest = split.tokens_for(TARGET_US_PER_CHUNK)
    within = (
        f"So CPU per chunk is within {TARGET_US_PER_CHUNK:g} µs for answers of {shortest} tokens "
        "or more."
        if shortest is not None
        else f"The cost of one chunk alone is above {TARGET_US_PER_CHUNK:g} µs."
    )
    return [
        f"Where the CPU goes: the 1-process gateway at {STREAMS} streams, answers of "
        f"{SHORT_TOKENS} and of {LONG_TOKENS} tokens (ITL {MODEL_SPEC['itl_ms']} ms), a "
        "request's CPU fitted as per-request + per-chunk × chunks (`bench/gateway_cost.py`):",
        "",
        "| per relayed chunk (of it kernel) | per request (of it kernel) | "
        + " | ".join(f"CPU per chunk, {tokens}-token answers" for tokens in ANSWER_LENGTHS)
        + " |",
        "|---:|---:|" + "---:|" * len(ANSWER_LENGTHS),
        f"| **{split.per_chunk_us:.1f} µs** ({split.per_chunk_kernel_us:.1f} µs) "
        f"| **{split.per_request_us:.0f} µs** ({split.per_request_kernel_us:.0f} µs) | "
        + " | ".join(f"{split.us_per_chunk(tokens):.0f} µs" for tokens in ANSWER_LENGTHS)
        + " |",
        "",
        within,
    ]
