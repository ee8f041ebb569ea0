"""Rules for usernames and passwords, as pure functions (each problem is one readable sentence)."""

import re

from pydantic import JsonValue

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # Argon2 accepts more; a cap keeps hashing cost bounded
MAX_USERNAME_LENGTH = 100
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


# The rules above as a JSON schema says them, for the API's documents (the functions below give the
# readable sentence; a password equal to the username is refused beyond what a schema can say).
USERNAME_SCHEMA: dict[str, JsonValue] = {
    "minLength": 1,
    "maxLength": MAX_USERNAME_LENGTH,
    "pattern": f"^{USERNAME_PATTERN.pattern}$",
}
PASSWORD_SCHEMA: dict[str, JsonValue] = {
    "minLength": MIN_PASSWORD_LENGTH,
    "maxLength": MAX_PASSWORD_LENGTH,
    "pattern": r"\S",  # not only spaces
}


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` is not acceptable, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if not password.strip():
        return "Password must not be only spaces."
    if username and password.casefold() == username.casefold():
        return "Password must not be the username."
    return None


def username_problem(username: str) -> str | None:
    """Why `username` is not acceptable, or None when it is."""
    if not 1 <= len(username) <= MAX_USERNAME_LENGTH:
        return f"Username must be 1 to {MAX_USERNAME_LENGTH} characters long."
    if not USERNAME_PATTERN.fullmatch(username):
        return (
            "Username may contain letters, digits and . _ @ - only, "
            "and must start with a letter or digit."
        )
    return None
