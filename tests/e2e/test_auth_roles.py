"""Changing a user's role (PATCH /admin/users/{id}): it applies at once, never leaves the system
without an administrator, and every change is on the audit stream with who did it."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import PLACEHOLDER_ID, audit_events, create_user, logged_in
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    yield client
    await client.aclose()


async def my_id(client: httpx.AsyncClient) -> str:
    return str((await client.get("/auth/me")).json()["id"])


async def set_role(admin: httpx.AsyncClient, user_id: str, role: str) -> httpx.Response:
    return await admin.patch(f"/admin/users/{user_id}", json={"role": role})


def role_changes(events: list[dict[str, Any]], user_id: str) -> list[dict[str, Any]]:
    return [
        e for e in events if e["action"] == "user.role_changed" and e["aggregate_id"] == user_id
    ]


async def test_a_promoted_user_administers_and_a_demoted_one_loses_it_at_once(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    admin_id = await my_id(admin)
    created, password = await create_user(admin)
    async with logged_in(stack.gateway_url, created["username"], password) as session:
        before = await session.get("/admin/users")
        promoted = await set_role(admin, created["id"], "admin")
        as_admin = await session.get("/admin/users")  # the same cookie, no new login
        demoted = await set_role(admin, created["id"], "user")
        after = await session.get("/admin/users")
        after_change = await session.post(
            "/admin/users", json={"username": "x-never", "password": "p" * 16}
        )
        still_a_user = await session.get("/auth/me")

    assert before.status_code == 403
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    assert as_admin.status_code == 200
    assert demoted.status_code == 200 and demoted.json()["role"] == "user"
    assert after.status_code == 403
    assert after_change.status_code == 403
    assert still_a_user.status_code == 200 and still_a_user.json()["role"] == "user"
    changes = role_changes(await audit_events(stack, "user.role_changed"), created["id"])
    assert [(e["details"]["previous_role"], e["details"]["role"]) for e in changes] == [
        ("user", "admin"),
        ("admin", "user"),
    ]
    assert all(e["actor"]["user_id"] == admin_id for e in changes)
    assert all(e["details"]["username"] == created["username"] for e in changes)


async def test_a_demoted_administrators_session_gets_403_on_admin_routes(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    other, password = await create_user(admin, role="admin")
    async with logged_in(stack.gateway_url, other["username"], password) as session:
        allowed = await session.get("/admin/keys")
        demoted = await set_role(admin, other["id"], "user")
        refused = [
            await session.get("/admin/keys"),
            await session.get("/admin/users"),
            await session.patch(f"/admin/users/{await my_id(admin)}", json={"role": "user"}),
        ]

    assert allowed.status_code == 200
    assert demoted.status_code == 200
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all(r.json() == {"detail": "Administrator role required."} for r in refused)


async def test_the_last_administrator_cannot_be_demoted(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    admin_id = await my_id(admin)
    users = (await admin.get("/admin/users")).json()["users"]
    others = [u["id"] for u in users if u["role"] == "admin" and u["id"] != admin_id]
    # Earlier tests leave administrators behind: for a moment `admin` is the only one.
    for user_id in others:
        assert (await set_role(admin, user_id, "user")).status_code == 200
    try:
        refused = await set_role(admin, admin_id, "user")
        still = await admin.get("/admin/users")
    finally:
        for user_id in others:
            assert (await set_role(admin, user_id, "admin")).status_code == 200

    assert refused.status_code == 409
    assert "last administrator" in refused.json()["detail"]
    assert still.status_code == 200
    assert role_changes(await audit_events(stack, "user.role_changed"), admin_id) == []


async def test_an_unchanged_role_is_no_event_and_bad_requests_get_clear_errors(
    stack: Stack, admin: httpx.AsyncClient, login_as: LoginAs
) -> None:
    created, _ = await create_user(admin)
    same = await set_role(admin, created["id"], "user")
    unknown = await set_role(admin, PLACEHOLDER_ID, "admin")
    bad_role = await set_role(admin, created["id"], "root")
    no_role = await admin.patch(f"/admin/users/{created['id']}", json={})
    user = await login_as()
    by_user = await set_role(user, created["id"], "admin")

    assert same.status_code == 200 and same.json()["role"] == "user"
    assert unknown.status_code == 404 and unknown.json() == {"detail": "User not found."}
    assert bad_role.status_code == 422 and no_role.status_code == 422
    assert by_user.status_code == 403
    assert role_changes(await audit_events(stack, "user.role_changed"), created["id"]) == []
    assert (await admin.get(f"/admin/users/{created['id']}")).json()["role"] == "user"


async def test_the_first_administrators_creation_at_start_is_audited(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    admin_id = await my_id(admin)

    created = [
        e for e in await audit_events(stack, "user.created") if e["aggregate_id"] == admin_id
    ]

    assert len(created) == 1
    assert created[0]["details"] == {
        "username": "admin",
        "role": "admin",
        "org_id": created[0]["details"]["org_id"],
        "by": "startup",
    }
    assert created[0]["actor"]["user_id"] is None  # the system, not a person
    assert stack.admin_password not in str(created[0])
