"""One user can neither see nor change another user's chats, whatever endpoint they try."""

import pytest

from tests.conftest import LoginAs
from tests.support.accounts import PLACEHOLDER_ID, gateway_routes

pytestmark = pytest.mark.e2e

# A valid body for each route that needs one, so that only ownership decides the answer.
BODIES = {
    ("POST", "/v1/chat/sessions/{id}/messages"): {"role": "user", "content": "let me in"},
    ("PUT", "/v1/chat/sessions/{id}/inspector"): {"output_schema": {"type": "object"}},
}


async def test_another_users_session_is_not_found_on_every_chat_endpoint(
    login_as: LoginAs,
) -> None:
    alice, bob = await login_as(), await login_as()
    created = await bob.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
    assert created.status_code == 201, created.text
    bobs_id = created.json()["id"]
    added = await bob.post(
        f"/v1/chat/sessions/{bobs_id}/messages", json={"role": "user", "content": "private"}
    )
    assert added.status_code == 201, added.text

    routes = [
        (method, path)
        for method, path in gateway_routes("/v1/chat/sessions/")
        if PLACEHOLDER_ID in path
    ]
    assert {("GET", f"/v1/chat/sessions/{PLACEHOLDER_ID}")} <= set(routes)
    assert len(routes) >= 3
    for method, path in routes:
        template = path.replace(PLACEHOLDER_ID, "{id}")
        response = await alice.request(
            method, path.replace(PLACEHOLDER_ID, bobs_id), json=BODIES.get((method, template))
        )
        assert response.status_code == 404, f"{method} {template}: {response.text}"
        assert response.json() == {"detail": "Chat session not found."}

    # The same answer as for a session that does not exist at all: nothing leaks.
    missing = await alice.get(f"/v1/chat/sessions/{PLACEHOLDER_ID}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Chat session not found."}

    listed = await alice.get("/v1/chat/sessions")
    assert listed.status_code == 200, listed.text
    assert bobs_id not in [s["id"] for s in listed.json()["sessions"]]

    untouched = await bob.get(f"/v1/chat/sessions/{bobs_id}")
    assert untouched.status_code == 200, untouched.text
    assert [m["content"] for m in untouched.json()["messages"]] == ["private"]


async def test_clearing_all_chats_deletes_only_your_own(login_as: LoginAs) -> None:
    alice, bob = await login_as(), await login_as()
    alices = await alice.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
    bobs = await bob.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
    assert alices.status_code == bobs.status_code == 201

    cleared = await alice.delete("/v1/chat/sessions")
    assert cleared.status_code == 204, cleared.text

    assert (await alice.get(f"/v1/chat/sessions/{alices.json()['id']}")).status_code == 404
    kept = await bob.get(f"/v1/chat/sessions/{bobs.json()['id']}")
    assert kept.status_code == 200, kept.text
    listed = await bob.get("/v1/chat/sessions")
    assert bobs.json()["id"] in [s["id"] for s in listed.json()["sessions"]]


async def test_completions_cannot_write_into_another_users_session(login_as: LoginAs) -> None:
    alice, bob = await login_as(), await login_as()
    created = await bob.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
    assert created.status_code == 201, created.text
    bobs_id = created.json()["id"]

    response = await alice.post(
        "/v1/chat/completions",
        json={"model": "sim-vllm-small", "messages": [{"role": "user", "content": "hi"}]},
        headers={"X-Chat-Session-Id": bobs_id},
    )

    assert response.status_code == 404, response.text
    fetched = await bob.get(f"/v1/chat/sessions/{bobs_id}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["messages"] == []
