"""CORTEX_GATEWAY_WORKERS: one gateway serving its port from several worker processes. Each worker
starts the whole app (NATS, registry, admin bootstrap): the admin is still created once, every
worker relays completions, and a revoked API key is refused by every worker's key cache."""

import asyncio
import json
import secrets
from pathlib import Path

import pytest

from tests.support.accounts import create_key, create_user, logged_in
from tests.support.completions import eventually
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack
from tests.support.workers import Answer, alive, ask_on_new_connection, worker_pids

pytestmark = pytest.mark.e2e

WORKERS = 2
ANNOUNCEMENT = "Generated password for admin account"
STREAMED = json.dumps(
    {
        "model": "sim-vllm-small",
        "messages": [{"role": "user", "content": "Say hi"}],
        "stream": True,
    }
).encode()
MAX_CONNECTIONS = 60  # fresh connections tried until each worker has accepted one


def ask_each_worker(gateway: ServiceProcess, key: str, workers: list[int]) -> dict[int, Answer]:
    """A streamed completion answered by every worker (the kernel picks who accepts)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answers: dict[int, Answer] = {}
    for _ in range(MAX_CONNECTIONS):
        answer = ask_on_new_connection(
            gateway.port, "/v1/chat/completions", STREAMED, headers, workers
        )
        assert answer.worker is not None
        answers.setdefault(answer.worker, answer)
        if len(answers) == len(workers):
            break
    assert sorted(answers) == workers, "not every worker accepted a connection"
    return answers


async def test_two_workers_share_the_port_create_the_admin_once_and_all_see_revocations(
    stack: Stack, tmp_path: Path
) -> None:
    username = f"root-{secrets.token_hex(4)}"
    password_file = tmp_path / "admin-password"
    env = {k: v for k, v in stack.env.items() if k != "CORTEX_GATEWAY_ADMIN_PASSWORD"}
    gateway = ServiceProcess(
        "gateway",
        {
            **env,
            "CORTEX_GATEWAY_WORKERS": str(WORKERS),
            "CORTEX_GATEWAY_ADMIN_USERNAME": username,
            "CORTEX_GATEWAY_ADMIN_PASSWORD_FILE": str(password_file),
        },
    ).start()
    assert gateway.process is not None
    try:
        workers = worker_pids(gateway.process.pid)
        assert len(workers) == WORKERS
        # Both workers raced through the first start: one admin, one generated password.
        password = password_file.read_text().strip()
        log = gateway.log_path.read_text()
        assert log.count(ANNOUNCEMENT) == 1 and log.count(password) == 1

        async with logged_in(gateway.url, username, password) as admin:
            user, _ = await create_user(admin)
            key = (await create_key(admin, user["id"]))["key"]
            answers = await asyncio.to_thread(ask_each_worker, gateway, key, workers)
            for answer in answers.values():
                assert answer.status == 200
                assert b'"content":"' in answer.body and answer.body.endswith(b"[DONE]\n\n")

            # Each worker has the key in its cache now; a revocation through one reaches both.
            [listed] = (await admin.get("/admin/keys", params={"user_id": user["id"]})).json()[
                "keys"
            ]
            assert (await admin.delete(f"/admin/keys/{listed['id']}")).status_code == 204

        async def refused_everywhere() -> bool:
            answers = await asyncio.to_thread(ask_each_worker, gateway, key, workers)
            return all(answer.status == 401 for answer in answers.values())

        await eventually(refused_everywhere, "every worker refuses the revoked key")
    finally:
        gateway.stop()
    assert not any(alive(worker) for worker in workers)  # stopping the gateway stops them
