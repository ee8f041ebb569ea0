"""The admin API: only administrators may use it; users, organizations, passwords; audit events."""

import json
import secrets

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import (
    PLACEHOLDER_ID,
    audit_events,
    create_key,
    create_user,
    gateway_routes,
    logged_in,
    new_password,
)
from tests.support.clients import api_key_client
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def admin_routes() -> list[tuple[str, str]]:
    routes = gateway_routes("/admin")
    expected = {("GET", "/admin/users"), ("POST", "/admin/users"), ("POST", "/admin/keys")}
    assert expected <= set(routes), routes
    return routes


async def test_a_non_admin_gets_403_on_every_admin_route(login_as: LoginAs) -> None:
    user = await login_as()
    for method, path in admin_routes():
        response = await user.request(method, path)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
        assert response.json() == {"detail": "Administrator role required."}


async def test_api_keys_cannot_administer_even_an_admins(stack: Stack, login_as: LoginAs) -> None:
    admin = await login_as("admin")
    me = (await admin.get("/auth/me")).json()
    key = await create_key(admin, me["id"], name="admin's script")
    async with api_key_client(stack.gateway_url, key["key"]) as client:
        assert (await client.get("/auth/me")).json()["role"] == "admin"
        for method, path in admin_routes():
            response = await client.request(method, path)
            assert response.status_code == 401, f"{method} {path}: {response.text}"
            assert "API keys are not accepted" in response.json()["detail"]


async def test_admin_creates_an_org_and_a_user_who_can_log_in(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    org = await admin.post("/admin/orgs", json={"name": f"Research {secrets.token_hex(4)}"})
    assert org.status_code == 201, org.text
    assert org.json()["disabled"] is False
    user, password = await create_user(admin, org_id=org.json()["id"])
    assert user["org_id"] == org.json()["id"]
    assert user["org_name"] == org.json()["name"]
    assert user["role"] == "user" and user["disabled"] is False

    async with logged_in(stack.gateway_url, user["username"].upper(), password) as client:
        me = await client.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["id"] == user["id"]

    everyone = (await admin.get("/admin/users")).json()["users"]
    assert user["id"] in [u["id"] for u in everyone]
    members = (await admin.get("/admin/users", params={"org_id": org.json()["id"]})).json()
    assert [u["id"] for u in members["users"]] == [user["id"]]
    orgs = (await admin.get("/admin/orgs")).json()["orgs"]
    assert {"default", org.json()["name"]} <= {o["name"] for o in orgs}
    assert "password_hash" not in json.dumps(everyone)


async def test_a_user_created_as_admin_can_administer(stack: Stack, login_as: LoginAs) -> None:
    admin = await login_as("admin")
    second, password = await create_user(admin, role="admin")
    async with logged_in(stack.gateway_url, second["username"], password) as client:
        assert (await client.get("/admin/users")).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"password": "too-short"}, 422, "at least 12 characters"),
        ({"username": "has space"}, 422, "Username may contain"),
        ({"role": "root"}, 422, "role"),
        ({"org_id": PLACEHOLDER_ID}, 422, "Unknown organization"),
        ({"username": "ADMIN"}, 409, "already taken"),
    ],
)
async def test_creating_a_user_explains_what_is_wrong(
    login_as: LoginAs, change: dict[str, str], status: int, detail: str
) -> None:
    admin = await login_as("admin")
    body = {"username": "someone-new", "password": new_password(), **change}
    response = await admin.post("/admin/users", json=body)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


async def test_disabling_a_user_ends_their_sessions_and_keys_until_enabled(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, password = await create_user(admin)
    key = await create_key(admin, user["id"])
    async with (
        logged_in(stack.gateway_url, user["username"], password) as session,
        api_key_client(stack.gateway_url, key["key"]) as by_key,
    ):
        assert (await session.get("/auth/me")).status_code == 200
        disabled = await admin.post(f"/admin/users/{user['id']}/disable")
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled"] is True

        assert (await session.get("/auth/me")).status_code == 401
        assert (await by_key.get("/auth/me")).status_code == 401
        with pytest.raises(httpx.HTTPStatusError):
            async with logged_in(stack.gateway_url, user["username"], password):
                pass

        enabled = await admin.post(f"/admin/users/{user['id']}/enable")
        assert enabled.status_code == 200 and enabled.json()["disabled"] is False
        assert (await by_key.get("/auth/me")).status_code == 200
        assert (await session.get("/auth/me")).status_code == 401  # ended sessions stay ended
    async with logged_in(stack.gateway_url, user["username"], password) as again:
        assert (await again.get("/auth/me")).status_code == 200


async def test_an_admin_cannot_disable_their_own_account_or_org(login_as: LoginAs) -> None:
    admin = await login_as("admin")
    me = (await admin.get("/auth/me")).json()
    own = await admin.post(f"/admin/users/{me['id']}/disable")
    assert own.status_code == 409 and "own account" in own.json()["detail"]
    org = await admin.post(f"/admin/orgs/{me['org_id']}/disable")
    assert org.status_code == 409 and "own organization" in org.json()["detail"]
    assert (await admin.get("/auth/me")).status_code == 200


async def test_unknown_ids_are_404(login_as: LoginAs) -> None:
    admin = await login_as("admin")
    for method, path in [
        ("GET", f"/admin/users/{PLACEHOLDER_ID}"),
        ("POST", f"/admin/users/{PLACEHOLDER_ID}/disable"),
        ("POST", f"/admin/orgs/{PLACEHOLDER_ID}/disable"),
        ("DELETE", f"/admin/keys/{PLACEHOLDER_ID}"),
    ]:
        response = await admin.request(method, path)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        assert response.json()["detail"].endswith("not found.")


async def test_password_reset_ends_sessions_and_replaces_the_password(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, password = await create_user(admin)
    weak = await admin.post(f"/admin/users/{user['id']}/password", json={"password": "short"})
    assert weak.status_code == 422 and "at least 12" in weak.json()["detail"]
    async with logged_in(stack.gateway_url, user["username"], password) as session:
        new = new_password()
        reset = await admin.post(f"/admin/users/{user['id']}/password", json={"password": new})
        assert reset.status_code == 204, reset.text
        assert (await session.get("/auth/me")).status_code == 401
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        old = await client.post(
            "/auth/login", json={"username": user["username"], "password": password}
        )
        assert old.status_code == 401
    async with logged_in(stack.gateway_url, user["username"], new) as fresh:
        assert (await fresh.get("/auth/me")).status_code == 200


async def test_disabling_an_org_locks_out_its_members(stack: Stack, login_as: LoginAs) -> None:
    admin = await login_as("admin")
    created = await admin.post("/admin/orgs", json={"name": f"Contractors {secrets.token_hex(4)}"})
    assert created.status_code == 201, created.text
    org = created.json()
    duplicate = await admin.post("/admin/orgs", json={"name": org["name"].upper()})
    assert duplicate.status_code == 409
    user, password = await create_user(admin, org_id=org["id"])
    async with logged_in(stack.gateway_url, user["username"], password) as session:
        disabled = await admin.post(f"/admin/orgs/{org['id']}/disable")
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        assert (await session.get("/auth/me")).status_code == 401
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        refused = await client.post(
            "/auth/login", json={"username": user["username"], "password": password}
        )
        assert refused.status_code == 401
    assert (await admin.post(f"/admin/orgs/{org['id']}/enable")).json()["disabled"] is False
    async with logged_in(stack.gateway_url, user["username"], password) as again:
        assert (await again.get("/auth/me")).status_code == 200


async def test_security_actions_are_published_as_audit_events(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    admin_id = (await admin.get("/auth/me")).json()["id"]
    user, password = await create_user(admin)
    key = await create_key(admin, user["id"], name="ci")
    assert (await admin.delete(f"/admin/keys/{key['id']}")).status_code == 204
    new = new_password()
    await admin.post(f"/admin/users/{user['id']}/password", json={"password": new})
    wrong = f"wrong-{secrets.token_hex(8)}"
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        await client.post("/auth/login", json={"username": user["username"], "password": wrong})
    async with logged_in(stack.gateway_url, user["username"], new) as session:
        assert (await session.post("/auth/logout")).status_code == 204
    await admin.post(f"/admin/users/{user['id']}/disable")

    events = await audit_events(stack)
    about_user = [e for e in events if user["id"] in (e["aggregate_id"], e["actor"]["user_id"])]
    actions = [e["action"] for e in about_user]
    for action in (
        "user.created",
        "user.password_changed",
        "auth.login.succeeded",
        "auth.logout",
        "user.disabled",
    ):
        assert action in actions, actions
    by_admin = [e for e in about_user if e["action"] in ("user.created", "user.disabled")]
    assert all(e["actor"]["user_id"] == admin_id for e in by_admin)
    key_actions = [e["action"] for e in events if e["aggregate_id"] == key["id"]]
    assert key_actions == ["api_key.created", "api_key.revoked"]
    failed = [e for e in events if e["action"] == "auth.login.failed"]
    assert user["username"] in [e["aggregate_id"] for e in failed]

    everything = json.dumps(events)
    for secret in (password, new, key["key"], wrong):
        assert secret not in everything
