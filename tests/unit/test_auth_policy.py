"""Pure rules of the accounts work: password and username policy, secrets and their hashes."""

import hashlib

import pytest

from cortex_gateway.auth.policy import MIN_PASSWORD_LENGTH, password_problem, username_problem
from cortex_gateway.auth.secrets import (
    api_key_prefix,
    hash_password,
    new_api_key,
    new_token,
    token_hash,
    verify_password,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("a" * (MIN_PASSWORD_LENGTH - 1), "at least 12 characters"),
        (" " * 20, "only spaces"),
        ("x" * 2000, "at most 1024 characters"),
        ("Alice-Example", "must not be the username"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, expected: str) -> None:
    problem = password_problem(password, username="alice-example")
    assert problem is not None
    assert expected in problem


def test_a_long_enough_password_is_accepted() -> None:
    assert password_problem("correct horse battery", username="alice") is None


@pytest.mark.parametrize("username", ["", "has space", "-leading-dash", "x" * 101, "semi;colon"])
def test_bad_usernames_are_refused(username: str) -> None:
    assert username_problem(username) is not None


@pytest.mark.parametrize("username", ["alice", "Bob.Smith", "carol@example.org", "d_1-2"])
def test_ordinary_usernames_are_accepted(username: str) -> None:
    assert username_problem(username) is None


def test_api_keys_are_random_prefixed_and_stored_as_sha256() -> None:
    first, second = new_api_key(), new_api_key()
    assert first != second
    assert first.startswith("ctx_") and len(first) >= 40
    assert api_key_prefix(first) == first[:12]
    assert token_hash(first) == hashlib.sha256(first.encode()).digest()
    assert new_token() != new_token()


def test_password_hashes_are_argon2id_and_verify_only_the_right_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, "correct horse battery")  # unknown user
    assert not verify_password("not a hash", "correct horse battery")
