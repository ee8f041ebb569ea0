"""Read-your-writes: a read right after a successful write always shows it."""

import asyncio
from contextlib import aclosing

import pytest

from tests.support.chat import MODEL
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

USERS = 10
WORKERS_PER_USER = 2
PAIRS_PER_WORKER = 50  # 10 users x 2 workers x 50 = 1,000 POST-then-GET pairs
CREATE_EVERY = 10  # every 10th pair creates a chat and reads the list instead


async def test_a_thousand_posts_each_read_back_at_once(stack: Stack) -> None:
    stale: list[str] = []

    async def worker(username: str, password: str, number: int) -> int:
        pairs = 0
        async with aclosing(await login(stack.gateway_url, username, password)) as client:
            created = await client.post("/v1/chat/sessions", json={"model_name": MODEL})
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]
            sent: list[str] = []
            for n in range(PAIRS_PER_WORKER):
                if n % CREATE_EVERY == CREATE_EVERY - 1:
                    new = await client.post("/v1/chat/sessions", json={"model_name": MODEL})
                    assert new.status_code == 201, new.text
                    listed = await client.get("/v1/chat/sessions", params={"limit": 200})
                    assert listed.status_code == 200, listed.text
                    if new.json()["id"] not in {s["id"] for s in listed.json()["sessions"]}:
                        stale.append(f"list without {new.json()['id']}")
                else:
                    content = f"worker {number} message {n}"
                    added = await client.post(
                        f"/v1/chat/sessions/{session_id}/messages",
                        json={"role": "user", "content": content},
                    )
                    assert added.status_code == 201, added.text
                    sent.append(content)
                    fetched = await client.get(f"/v1/chat/sessions/{session_id}")
                    assert fetched.status_code == 200, fetched.text
                    if [m["content"] for m in fetched.json()["messages"]] != sent:
                        stale.append(f"session {session_id} after {content!r}")
                pairs += 1
        return pairs

    accounts = [stack.create_user() for _ in range(USERS)]
    done = await asyncio.gather(
        *(
            worker(name, password, user * WORKERS_PER_USER + w)
            for user, (name, password) in enumerate(accounts)
            for w in range(WORKERS_PER_USER)
        )
    )

    assert sum(done) == 1_000
    assert stale == []
