"""The comparison API through the real gateway, JetStream and sessions projection: panes that
are chats, turns streamed per pane, votes, the leaderboards, and who may see what."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.chat import MODEL, OTHER_MODEL, get_when_ready, sql
from tests.support.completions import read_sse
from tests.support.processes import run_command
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def create(client: httpx.AsyncClient, *models: str, **extra: Any) -> dict[str, Any]:
    body = {"panes": [{"model_name": m} for m in models], **extra}
    created = await client.post("/v1/comparisons", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


async def run_turn(client: httpx.AsyncClient, comparison: dict[str, Any], prompt: str) -> list[str]:
    """Send `prompt` to every pane, one after the other; the answers' texts."""
    turn = await client.post(f"/v1/comparisons/{comparison['id']}/turns", json={"prompt": prompt})
    assert turn.status_code == 201, turn.text
    answers = []
    for pane in comparison["panes"]:
        history = [{"role": m["role"], "content": m["content"]} for m in pane["messages"]]
        body = {"messages": [*history, {"role": "user", "content": prompt}], "stream": True}
        url = f"/v1/comparisons/{comparison['id']}/panes/{pane['index']}/completions"
        async with client.stream("POST", url, json=body) as response:
            assert response.status_code == 200, await response.aread()
            answers.append((await read_sse(response)).content)
    return answers


async def test_a_comparison_is_saved_listed_and_its_panes_are_not_chats(login_as: LoginAs) -> None:
    client = await login_as()
    comparison = await create(client, MODEL, OTHER_MODEL, title="Caching", system_prompt="Be brief")

    answers = await run_turn(client, comparison, "Tell me about caching")

    assert all(answers)
    got = (await get_when_ready(client, f"/v1/comparisons/{comparison['id']}")).json()
    assert [p["model_name"] for p in got["panes"]] == [MODEL, OTHER_MODEL]
    assert [t["prompt"] for t in got["turns"]] == ["Tell me about caching"]
    for pane, answer in zip(got["panes"], answers, strict=True):
        roles = [m["role"] for m in pane["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert pane["messages"][-1]["content"] == answer
    listed = (await get_when_ready(client, "/v1/comparisons")).json()["comparisons"]
    assert [(c["id"], c["title"], c["turn_count"]) for c in listed] == [
        (comparison["id"], "Caching", 1)
    ]
    chats = (await get_when_ready(client, "/v1/chat/sessions")).json()["sessions"]
    assert chats == [], "the panes are listed as the comparison, not as chats"

    deleted = await client.delete(f"/v1/comparisons/{comparison['id']}")
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/comparisons/{comparison['id']}")).status_code == 404
    assert (await get_when_ready(client, "/v1/comparisons")).json()["comparisons"] == []
    pane_chat = await client.get(f"/v1/chat/sessions/{comparison['panes'][0]['session_id']}")
    assert pane_chat.status_code == 404, "deleting a comparison deletes its panes' chats"


@pytest.mark.parametrize(
    "body",
    [
        {"panes": [{"model_name": MODEL}]},
        {"panes": [{"model_name": MODEL}] * 5},
        {"panes": [{"model_name": MODEL}, {"model_name": "no-such-model"}]},
        {"panes": [{"model_name": MODEL}, {"model_name": MODEL, "sampling": {"top_p": 0}}]},
        {"panes": "two"},
    ],
    ids=["one-pane", "five-panes", "unknown-model", "bad-sampling", "not-a-list"],
)
async def test_bad_comparisons_are_refused_with_a_message(
    login_as: LoginAs, body: dict[str, Any]
) -> None:
    client = await login_as()
    refused = await client.post("/v1/comparisons", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]


async def test_other_users_cannot_see_use_or_vote_on_a_comparison(login_as: LoginAs) -> None:
    owner = await login_as()
    other = await login_as()
    comparison = await create(owner, MODEL, OTHER_MODEL)
    await run_turn(owner, comparison, "hello")
    path = f"/v1/comparisons/{comparison['id']}"

    assert (await other.get(path)).status_code == 404
    assert (await other.delete(path)).status_code == 404
    vote = await other.post(f"{path}/votes", json={"turn": 1, "choice": "tie"})
    assert vote.status_code == 404
    turn = await other.post(f"{path}/turns", json={"prompt": "mine now"})
    assert turn.status_code == 404
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    completion = await other.post(f"{path}/panes/0/completions", json=body)
    assert completion.status_code == 404
    assert (await get_when_ready(other, "/v1/comparisons")).json()["comparisons"] == []
    board = (await get_when_ready(other, "/v1/leaderboard")).json()
    assert board["votes"] == 0 and board["entries"] == []
    assert (await get_when_ready(owner, path)).status_code == 200


async def test_blind_mode_hides_the_models_until_the_vote(login_as: LoginAs) -> None:
    client = await login_as()
    comparison = await create(client, MODEL, OTHER_MODEL, blind=True)
    assert comparison["hidden"] is True
    assert [p["model_name"] for p in comparison["panes"]] == [None, None]
    assert [p["label"] for p in comparison["panes"]] == ["Model A", "Model B"]

    turn = await client.post(f"/v1/comparisons/{comparison['id']}/turns", json={"prompt": "hi"})
    assert turn.status_code == 201
    url = f"/v1/comparisons/{comparison['id']}/panes/0/completions"
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with client.stream("POST", url, json=body) as response:
        raw = (await response.aread()).decode()
    assert response.status_code == 200
    assert MODEL not in raw and OTHER_MODEL not in raw, "the stream never names the model"
    assert '"model":"Model A"' in raw
    listed = (await get_when_ready(client, "/v1/comparisons")).json()["comparisons"]
    assert listed[0]["models"] is None
    hidden = (await get_when_ready(client, f"/v1/comparisons/{comparison['id']}")).text
    assert MODEL not in hidden and OTHER_MODEL not in hidden

    voted = await client.post(
        f"/v1/comparisons/{comparison['id']}/votes", json={"turn": 1, "choice": "pane", "pane": 0}
    )

    assert voted.status_code == 201, voted.text
    shown = voted.json()
    assert shown["hidden"] is False
    assert sorted(p["model_name"] for p in shown["panes"]) == sorted([MODEL, OTHER_MODEL])
    assert shown["turns"][0]["vote"]["pane"] == 0


async def test_votes_need_a_turn_and_a_pane(login_as: LoginAs) -> None:
    client = await login_as()
    comparison = await create(client, MODEL, OTHER_MODEL)
    path = f"/v1/comparisons/{comparison['id']}/votes"
    early = await client.post(path, json={"turn": 1, "choice": "tie"})
    assert early.status_code == 422 and "no turn 1" in early.json()["detail"]
    await client.post(f"/v1/comparisons/{comparison['id']}/turns", json={"prompt": "hi"})
    no_pane = await client.post(path, json={"turn": 1, "choice": "pane"})
    assert no_pane.status_code == 422
    far_pane = await client.post(path, json={"turn": 1, "choice": "pane", "pane": 3})
    assert far_pane.status_code == 422


async def test_the_leaderboards_count_the_users_own_votes_and_the_admin_sees_all(
    login_as: LoginAs,
) -> None:
    first = await login_as()
    second = await login_as()
    for client, preferred in ((first, 0), (first, 0), (second, 1)):
        comparison = await create(client, MODEL, OTHER_MODEL)
        path = f"/v1/comparisons/{comparison['id']}"
        await client.post(f"{path}/turns", json={"prompt": "hi"})
        vote = {"turn": 1, "choice": "pane", "pane": preferred}
        assert (await client.post(f"{path}/votes", json=vote)).status_code == 201

    mine = (await get_when_ready(first, "/v1/leaderboard")).json()
    assert mine["scope"] == "user" and mine["votes"] == 2
    assert [e["model"] for e in mine["entries"]] == [MODEL, OTHER_MODEL]
    best = mine["entries"][0]
    assert (best["wins"], best["ties"], best["losses"]) == (2, 0, 0)
    assert best["ci_low"] <= best["score"] <= best["ci_high"]
    assert mine["pairs"] == [
        {"model_a": OTHER_MODEL, "model_b": MODEL, "a_wins": 0, "ties": 0, "b_wins": 2}
    ]

    assert (await first.get("/admin/leaderboard")).status_code == 403
    admin = await login_as("admin")
    everyone = (await admin.get("/admin/leaderboard")).json()
    assert everyone["scope"] == "all"
    pair = next(
        p for p in everyone["pairs"] if {p["model_a"], p["model_b"]} == {MODEL, OTHER_MODEL}
    )
    assert pair["b_wins"] >= 2 and pair["a_wins"] >= 1, "both users' votes count"


async def test_rebuild_replays_the_comparisons_into_the_same_rows(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    comparison = await create(client, MODEL, OTHER_MODEL, blind=True)
    path = f"/v1/comparisons/{comparison['id']}"
    await client.post(f"{path}/turns", json={"prompt": "hi"})
    vote = await client.post(f"{path}/votes", json={"turn": 1, "choice": "pane", "pane": 1})
    assert vote.status_code == 201
    gone = await create(client, MODEL, OTHER_MODEL)
    assert (await client.delete(f"/v1/comparisons/{gone['id']}")).status_code == 204
    listed = (await get_when_ready(client, "/v1/comparisons")).json()["comparisons"]
    assert [c["id"] for c in listed] == [comparison["id"]]
    before = comparison_rows(stack)

    await asyncio.to_thread(run_command, "sessions", "rebuild", stack.env)

    assert comparison_rows(stack) == before
    board = (await get_when_ready(client, "/v1/leaderboard")).json()
    assert board["votes"] == 1


def comparison_rows(stack: Stack) -> list[list[tuple[Any, ...]]]:
    return [
        sql(stack, "SELECT * FROM comparisons ORDER BY id"),
        sql(stack, "SELECT * FROM comparison_panes ORDER BY session_id"),
        sql(stack, "SELECT * FROM comparison_votes ORDER BY comparison_id, turn"),
    ]
