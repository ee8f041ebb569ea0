"""A user's history as sentences (`cortex-audit timeline`, `GET /admin/audit/timeline`): one
entry per event, with its time, who did it and what.

The sentences are data (a template per event type or audit action); `Timeline` fills them from
the events' JSON, oldest first, remembering what later sentences name (chat titles, key names).
Pure logic in the contracts library, which the audit tool and the gateway both already use
(docs/audit.md, "Timeline").
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cortex_contracts.events.chat import UNTITLED, title_from_message

# Audit actions; fields: the event's `details`, plus `target` (the user or thing acted on),
# `remote_addr`, `key` (an API key's name) and `aggregate_id`.
AUDIT_SENTENCES: dict[str, str] = {
    "auth.login.succeeded": "logged in from {remote_addr}",
    "auth.login.failed": "failed to log in as {aggregate_id} from {remote_addr}",
    "auth.logout": "logged out",
    "user.created": "created the user {username} (role {role})",
    "user.disabled": "disabled the user {target}",
    "user.enabled": "enabled the user {target}",
    "user.password_changed": "changed the password of {target}",
    "user.role_changed": "changed the role of {target} from {previous_role} to {role}",
    "org.created": "created the organization {name}",
    "org.disabled": "disabled the organization {name}",
    "org.enabled": "enabled the organization {name}",
    "api_key.created": "created the API key {key} ({prefix}…) for {target}",
    "api_key.revoked": "revoked the API key {key} ({prefix}…) of {target}",
    "upstream.registered": "registered the model server {aggregate_id} ({base_url})",
    "upstream.removed": "removed the model server {aggregate_id}",
    "audit.exported": "exported the event history of {target}",
    "audit.timeline_viewed": "viewed the timeline of {target}",
    "user.archive_downloaded": "downloaded {target}'s data archive",
}
UNKNOWN_ACTION = "{action} on {aggregate_id}"
# Chat events; `chat` is the chat's title (quoted), `model` its model.
CHAT_SENTENCES: dict[str, str] = {
    "chat.session.created": "created a chat with {model}",
    "chat.message.added": "wrote a message in {chat}",
    "chat.session.model_changed": "switched {chat} to {model}",
    "chat.session.deleted": "deleted {chat}",
}
ANSWER_SENTENCE = "got an answer from {model} in {chat}"
SYSTEM_SENTENCE = "set the system prompt of {chat}"
SYSTEM_ACTOR = "system"
SOMEONE = "someone"  # a failed login: nobody was logged in


class TimelineEntry(BaseModel):
    time: datetime = Field(description="when the event was stored")
    actor: str = Field(description="who did it: a username, a user id, 'system' or 'someone'")
    by_other: bool = Field(description="done by someone else than the user of the timeline")
    what: str
    kind: str = Field(description="the event type, or the audit action")
    stream: str
    seq: int


class Timeline:
    """Turns one user's events, oldest first, into entries."""

    def __init__(self, user_id: str, username: str) -> None:
        self.user_id = user_id
        self.names = {user_id: username}  # user id -> username, as the events tell them
        self._chats: dict[str, str] = {}  # chat id -> title
        self._keys: dict[str, str] = {}  # key id -> name

    def entry(
        self, stream: str, seq: int, time: datetime, event: dict[str, Any]
    ) -> TimelineEntry | None:
        """The event's entry; None for what the timeline leaves out (usage records)."""
        kind = str(event.get("type", ""))
        actor_id = (event.get("actor") or {}).get("user_id")
        if kind == "audit.recorded":
            kind, what = self._audit(event)
        elif kind.startswith("chat."):
            what = self._chat(kind, event)
        else:
            return None
        return TimelineEntry(
            time=time,
            actor=self._actor_name(actor_id, kind, event),
            by_other=actor_id != self.user_id,
            what=what,
            kind=kind,
            stream=stream,
            seq=seq,
        )

    def _actor_name(self, actor_id: str | None, kind: str, event: dict[str, Any]) -> str:
        if actor_id is None:
            return SOMEONE if kind == "auth.login.failed" else SYSTEM_ACTOR
        by_name = (event.get("details") or {}).get("by_username")
        if isinstance(by_name, str):
            self.names.setdefault(actor_id, by_name)
        return self.names.get(actor_id, actor_id)

    def _audit(self, event: dict[str, Any]) -> tuple[str, str]:
        action = str(event.get("action", ""))
        details = event.get("details") or {}
        subject = str(event.get("aggregate_id", ""))
        if action == "api_key.created" and isinstance(details.get("name"), str):
            self._keys[subject] = details["name"]
        target_id = details.get("user_id") or subject
        target = details.get("username") or self.names.get(target_id, target_id)
        fields = {
            **details,
            "action": action,
            "aggregate_id": subject,
            "remote_addr": event.get("remote_addr") or "an unknown address",
            "target": target,
            "key": self._keys.get(subject, "unnamed"),
        }
        template = AUDIT_SENTENCES.get(action, UNKNOWN_ACTION)
        return action, template.format_map(_Blank(fields))

    def _chat(self, kind: str, event: dict[str, Any]) -> str:
        chat_id = str(event.get("aggregate_id", ""))
        if kind == "chat.session.created" and event.get("title"):
            self._chats[chat_id] = str(event["title"])
        elif kind == "chat.message.added" and chat_id not in self._chats and _from_user(event):
            # an untitled chat is named after its first message
            self._chats[chat_id] = title_from_message(str(event.get("content", "")))
        title = self._chats.get(chat_id, UNTITLED)
        fields = {"chat": f"the chat “{title}”", "model": event.get("model_name", "?")}
        template = CHAT_SENTENCES.get(kind, "{kind} in {chat}")
        if kind == "chat.message.added" and event.get("role") == "assistant":
            template = ANSWER_SENTENCE
        elif kind == "chat.message.added" and event.get("role") == "system":
            template = SYSTEM_SENTENCE
        return template.format_map(_Blank({**fields, "kind": kind}))


def _from_user(event: dict[str, Any]) -> bool:
    return event.get("role") == "user"


class _Blank(dict[str, Any]):
    """Template fields an older or newer event lacks read as '?', never a KeyError."""

    def __missing__(self, key: str) -> str:
        return "?"
