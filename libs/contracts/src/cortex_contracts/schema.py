"""JSON schema export of every event and request/reply message."""

import json
from pathlib import Path

from pydantic import BaseModel

from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.events.chat import (
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
)
from cortex_contracts.events.models import ModelHealth, Upstream
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import (
    GetSession,
    ListSessions,
    SessionPage,
    SessionReply,
)

SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    SessionCreated,
    MessageAdded,
    SessionModelChanged,
    SessionDeleted,
    CompletionRecorded,
    AuditRecorded,
    Upstream,
    ModelHealth,
    ListSessions,
    SessionPage,
    GetSession,
    SessionReply,
    ErrorReply,
)


def write_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in SCHEMA_MODELS:
        path = directory / f"{model.__name__}.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
