"""Stop a running completion: sent to the gateway replica relaying it (request-reply)."""

from pydantic import BaseModel, Field


class StopCompletion(BaseModel):
    """Answered with `CompletionStopped`; only the completion's own user may stop it."""

    user_id: str = Field(min_length=1)


class CompletionStopped(BaseModel):
    stopped: bool = Field(description="false: not this user's, or it had already ended")
