"""The OpenAPI document tells the truth: schemathesis sends schema-valid and invalid requests to
every operation of the running gateway, as a user, as an administrator and with an API key, and
checks every answer against the document (all of its checks: statuses, bodies, content types,
headers, `Allow`, valid data accepted and invalid data refused)."""

from collections.abc import Iterator

import pytest
import requests
import schemathesis

from tests.support.contract import (
    CaseCounter,
    Login,
    gateway_schema,
    logged_in,
    remove_scratch_upstreams,
    with_key,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

gateway_api = gateway_schema()
LOGOUT = "/auth/logout"


@pytest.fixture(scope="module")
def counter() -> Iterator[CaseCounter]:
    counting = CaseCounter()
    yield counting
    print(counting.write())


@pytest.fixture(scope="module")
def user(stack: Stack) -> Login:
    return Login(stack.gateway_url, *stack.create_user())


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[Login]:
    # An administrator of its own: the run's wrong current passwords (POST /auth/password)
    # throttle this account only, never the `admin` the other tests log in as.
    yield Login(stack.gateway_url, *stack.create_user(role="admin"))
    remove_scratch_upstreams(
        logged_in(stack.gateway_url, "admin", stack.admin_password), stack.gateway_url
    )


@pytest.fixture(scope="module")
def api_key(stack: Stack, user: Login, admin: Login) -> requests.Session:
    me = user.session.get(f"{stack.gateway_url}/auth/me", timeout=30).json()
    created = admin.session.post(
        f"{stack.gateway_url}/admin/keys", json={"user_id": me["id"]}, timeout=30
    )
    created.raise_for_status()
    return with_key(created.json()["key"])


def test_the_gateway_serves_this_document(stack: Stack, user: Login) -> None:
    # /openapi.json wants a login unless CORTEX_GATEWAY_API_DOCS_PUBLIC (docs/deploy.md)
    served = user.session.get(f"{stack.gateway_url}/openapi.json", timeout=30)

    assert served.json() == gateway_api.raw_schema


def call_as(login: Login, case: schemathesis.Case) -> None:
    # Logging out would end the session the next cases use: that case gets a session of its own.
    session = login.fresh() if case.path == LOGOUT else login.session
    case.call_and_validate(base_url=login.base_url, session=session)


@gateway_api.parametrize()
def test_as_a_user(case: schemathesis.Case, user: Login, counter: CaseCounter) -> None:
    counter.add("user")
    call_as(user, case)


@gateway_api.parametrize()
def test_as_an_administrator(case: schemathesis.Case, admin: Login, counter: CaseCounter) -> None:
    counter.add("admin")
    call_as(admin, case)


@gateway_api.include(path_regex="^/v1/(models|chat/completions)").parametrize()
def test_with_an_api_key(
    case: schemathesis.Case, stack: Stack, api_key: requests.Session, counter: CaseCounter
) -> None:
    counter.add("api key")
    case.call_and_validate(base_url=stack.gateway_url, session=api_key)
