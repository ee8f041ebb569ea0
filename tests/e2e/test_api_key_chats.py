"""An API key may record completions into its owner's chats (X-Chat-Session-Id), as an SDK user
would, and never into anyone else's (docs/accounts.md)."""

import pytest

from tests.conftest import LoginAs
from tests.support.accounts import create_key, create_user, logged_in
from tests.support.chat import create_session, get_when_ready
from tests.support.clients import api_key_client
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
SESSION_HEADER = "X-Chat-Session-Id"


def turn(content: str) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}]}


async def test_a_key_records_into_its_owners_chat_only(stack: Stack, login_as: LoginAs) -> None:
    admin = await login_as("admin")
    owner, password = await create_user(admin)
    key = await create_key(admin, owner["id"])
    other = await login_as()
    others_chat = await create_session(other)

    async with logged_in(stack.gateway_url, owner["username"], password) as owner_client:
        owners_chat = await create_session(owner_client)
        async with api_key_client(stack.gateway_url, key["key"]) as sdk:
            recorded = await sdk.post(
                "/v1/chat/completions",
                json=turn("echo: from the SDK"),
                headers={SESSION_HEADER: owners_chat},
            )
            refused = await sdk.post(
                "/v1/chat/completions",
                json=turn("echo: not yours"),
                headers={SESSION_HEADER: others_chat},
            )
            read = await sdk.get(f"/v1/chat/sessions/{owners_chat}")
        saved = (await get_when_ready(owner_client, f"/v1/chat/sessions/{owners_chat}")).json()

    assert recorded.status_code == 200, recorded.text
    assert [(m["role"], m["content"]) for m in saved["messages"]][:1] == [
        ("user", "echo: from the SDK")
    ]
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "session_not_found"
    assert read.status_code == 401  # a key records turns; reading chats needs a login
    untouched = (await get_when_ready(other, f"/v1/chat/sessions/{others_chat}")).json()
    assert untouched["messages"] == []
