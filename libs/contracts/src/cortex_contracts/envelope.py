"""The envelope every event carries, whatever its type."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1  # the newest event schema this build reads; a newer event is parked


def utcnow() -> datetime:
    return datetime.now(UTC)


class Actor(BaseModel):
    """Who caused an event: the user and their organization (None for the system)."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    org_id: str | None = None


class Event(BaseModel):
    """Envelope fields; each event type subclasses this with its payload fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    actor: Actor = Field(default_factory=Actor)
    aggregate_id: str

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if not 1 <= version <= SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {version} (this build reads 1 to {SCHEMA_VERSION})"
            )
        return version

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
