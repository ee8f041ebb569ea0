"""Passwords are hashed with Argon2id (slow, once per login); session tokens and API keys are
high-entropy random secrets, so a fast SHA-256 of them is safe to store and to check per request."""

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# A real hash to verify against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# Each Argon2 run takes ~64 MiB and a core for a fraction of a second: a burst of logins queues
# here instead of exhausting memory and starving the event loop's core.
_ARGON2_SLOTS = asyncio.Semaphore(2)

API_KEY_PREFIX = "ctx_"
API_KEY_VISIBLE_CHARS = 12  # "ctx_" + 8 characters: enough to recognise a key in a list


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    async with _ARGON2_SLOTS:
        return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    async with _ARGON2_SLOTS:
        return await asyncio.to_thread(verify_password, password_hash, password)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_prefix(key: str) -> str:
    return key[:API_KEY_VISIBLE_CHARS]


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def generate_password() -> str:
    return secrets.token_urlsafe(18)
