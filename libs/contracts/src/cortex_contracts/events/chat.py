"""Events of the chat-session aggregate: one NATS subject per session.

`previous_seq` is the stream sequence of the session's previous event (0 for the first); the
gateway publishes with `Nats-Expected-Last-Subject-Sequence` set to it, so a session's events form
a chain that the projection can apply in order and exactly once.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from cortex_contracts.envelope import Event

Role = Literal["user", "assistant", "system", "tool"]  # tool: a tool call answered by the user


class ChatEvent(Event):
    previous_seq: int = Field(ge=0)


class SessionCreated(ChatEvent):
    """`title` None: the title is made from the first user message (see `title_from_message`)."""

    type: Literal["chat.session.created"] = "chat.session.created"
    title: str | None = None
    model_name: str
    engine_type: str
    constraints_json: dict[str, Any] | None = None


class MessageAdded(ChatEvent):
    """`model_name` is the model the session is locked to once this message exists."""

    type: Literal["chat.message.added"] = "chat.message.added"
    role: Role
    content: str
    metrics_json: dict[str, Any] | None = None
    model_name: str


class SessionModelChanged(ChatEvent):
    """Only allowed while the session has no message (the model lock)."""

    type: Literal["chat.session.model_changed"] = "chat.session.model_changed"
    model_name: str
    engine_type: str
    constraints_json: dict[str, Any] | None = None


class SessionDeleted(ChatEvent):
    type: Literal["chat.session.deleted"] = "chat.session.deleted"


AnyChatEvent = Annotated[
    SessionCreated | MessageAdded | SessionModelChanged | SessionDeleted,
    Field(discriminator="type"),
]
chat_event_adapter: TypeAdapter[AnyChatEvent] = TypeAdapter(AnyChatEvent)


def parse_chat_event(data: bytes) -> AnyChatEvent:
    return chat_event_adapter.validate_json(data)


UNTITLED = "New chat"
TITLE_MAX_CHARS = 60


def title_from_message(content: str) -> str:
    """First non-empty line, trimmed, cut at a word boundary to at most TITLE_MAX_CHARS."""
    line = next((part.strip() for part in content.splitlines() if part.strip()), "")
    line = " ".join(line.split())
    if not line:
        return UNTITLED
    if len(line) <= TITLE_MAX_CHARS:
        return line
    cut = line[: TITLE_MAX_CHARS + 1].rsplit(" ", 1)[0]
    if len(cut) > TITLE_MAX_CHARS or not cut:
        cut = line[:TITLE_MAX_CHARS]
    return cut.rstrip(" ,.;:-") + "…"
