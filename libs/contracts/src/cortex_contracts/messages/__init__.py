"""Request/reply messages exchanged over NATS (queries and commands that need an answer)."""

from pydantic import BaseModel


class ErrorReply(BaseModel):
    """Any responder may answer this instead of its normal reply."""

    error: str
    status: int = 500
    retry_after: float | None = None
