from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    username: str
    role: Literal["admin", "user"]
    org_id: str
    via: Literal["cookie", "api_key"]
    api_key_id: str | None = None
    expires_at: datetime | None = None  # when the credential ends (its cache entry with it)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
