"""The usage benchmark's synthetic traffic: who calls which model how, as usage rows (for COPY)
and as the events the gateway publishes."""

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from cortex_contracts.envelope import Actor
from cortex_contracts.events.usage import CompletionRecorded

ENVELOPE_COLUMNS = {"event_id", "completion_id", "occurred_at", "user_id", "org_id", "stream_seq"}
COLUMNS = (
    "event_id", "completion_id", "occurred_at", "user_id", "org_id", "api_key_id", "model",
    "engine_type", "source", "stream", "status", "error", "finish_reason", "http_status",
    "prompt_tokens", "completion_tokens", "total_tokens", "ttft_ms", "latency_ms",
    "decode_tokens_per_s", "chat_session_id", "stream_seq",
)  # fmt: skip


class Population:
    """300 users in 12 orgs, 8 models; most traffic from 12 API integrations, each on one model."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.models = [f"model-{i}" for i in range(8)]
        self.orgs = [str(uuid.uuid4()) for _ in range(12)]
        self.users = [(str(uuid.uuid4()), rng.choice(self.orgs)) for _ in range(300)]
        self.integrations = [
            (self.users[i], str(uuid.uuid4()), rng.choice(self.models)) for i in range(12)
        ]

    def completion(self, seq: int, occurred_at: datetime) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < 0.7:
            (user_id, org_id), key_id, model = rng.choice(self.integrations)
            source, stream, session = "api", rng.random() < 0.3, None
        else:
            user_id, org_id = self.users[min(int(rng.paretovariate(1.2)) - 1, 299)]
            key_id, model = None, rng.choice(self.models)
            source, stream, session = "playground", True, str(uuid.uuid4())
        status = rng.choices(["complete", "stopped", "abandoned", "error"], [93, 3, 1, 3])[0]
        failed = status == "error"
        prompt = int(rng.lognormvariate(5, 1)) + 1
        answer = 0 if failed else int(rng.lognormvariate(5.5, 0.8)) + 1
        ttft = None if failed else rng.lognormvariate(5, 0.6)
        return {
            "event_id": uuid.uuid4(),
            "completion_id": str(uuid.uuid4()),
            "occurred_at": occurred_at,
            "user_id": user_id,
            "org_id": org_id,
            "api_key_id": key_id,
            "model": model,
            "engine_type": "vllm",
            "source": source,
            "stream": stream,
            "status": status,
            "error": "upstream answered 503" if failed else None,
            "finish_reason": None if failed else "stop",
            "http_status": 502 if failed else 200,
            "prompt_tokens": prompt,
            "completion_tokens": answer,
            "total_tokens": prompt + answer,
            "ttft_ms": ttft,
            "latency_ms": (ttft or 0) + answer * rng.uniform(8, 30) + rng.uniform(1, 20),
            "decode_tokens_per_s": None if failed else rng.uniform(30, 120),
            "chat_session_id": session,
            "stream_seq": seq,
        }

    def event(self) -> CompletionRecorded:
        row = self.completion(0, datetime.now(UTC))
        return CompletionRecorded(
            event_id=row["event_id"],
            occurred_at=row["occurred_at"],
            aggregate_id=row["completion_id"],
            actor=Actor(user_id=row["user_id"], org_id=row["org_id"]),
            **{name: row[name] for name in COLUMNS if name not in ENVELOPE_COLUMNS},
        )
