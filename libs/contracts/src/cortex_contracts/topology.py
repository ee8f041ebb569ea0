"""Every NATS name in one place: streams, subjects, KV buckets, durable consumers, query subjects.

All names derive from a prefix (`CORTEX_NATS_PREFIX`), so several installations or test runs can
share one NATS server without seeing each other's data.
"""

import base64
from dataclasses import dataclass

from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

DAY_SEC = 86_400.0


@dataclass(frozen=True)
class Topology:
    prefix: str = "cortex"
    replicas: int = 1
    duplicate_window_sec: float = 3600.0

    # --- subjects -------------------------------------------------------------------------
    def chat_subject(self, user_id: str, session_id: str) -> str:
        """One subject per session, under its owner, so both can be read with a direct get."""
        return f"{self.prefix}.chat.{user_id}.{session_id}"

    def chat_user_subjects(self, user_id: str) -> str:
        return f"{self.prefix}.chat.{user_id}.*"

    @property
    def chat_all_subjects(self) -> str:
        return f"{self.prefix}.chat.>"

    def usage_subject(self, model: str) -> str:
        return f"{self.prefix}.usage.completion.{_token(model)}"

    @property
    def usage_all_subjects(self) -> str:
        return f"{self.prefix}.usage.>"

    def audit_subject(self, action: str) -> str:
        return f"{self.prefix}.audit.{action}"

    @property
    def audit_all_subjects(self) -> str:
        return f"{self.prefix}.audit.>"

    def preset_subject(self, org_id: str, user_id: str, preset_id: str) -> str:
        return f"{self.prefix}.inspect.preset.{_token(org_id)}.{_token(user_id)}.{preset_id}"

    def user_presets(self, user_id: str) -> str:
        return f"{self.prefix}.inspect.preset.*.{_token(user_id)}.*"

    def org_presets(self, org_id: str) -> str:
        return f"{self.prefix}.inspect.preset.{_token(org_id)}.*.*"

    def chat_inspector_subject(self, user_id: str, session_id: str) -> str:
        return f"{self.prefix}.inspect.chat.{_token(user_id)}.{session_id}"

    def dead_letter_subject(self, consumer: str) -> str:
        return f"{self.prefix}.dlq.{consumer}"

    # --- request/reply (core NATS, answered by a queue group) -----------------------------
    @property
    def sessions_list_subject(self) -> str:
        return f"{self.prefix}.q.sessions.list"

    @property
    def sessions_get_subject(self) -> str:
        return f"{self.prefix}.q.sessions.get"

    @property
    def usage_query_subject(self) -> str:
        return f"{self.prefix}.q.usage.query"

    @property
    def health_refresh_subject(self) -> str:
        return f"{self.prefix}.q.health.refresh"

    def completion_stop_subject(self, completion_id: str) -> str:
        """Asks the gateway replica that relays a completion to stop it (request/reply)."""
        return f"{self.prefix}.q.completions.stop.{_token(completion_id)}"

    # --- streams --------------------------------------------------------------------------
    @property
    def chat_stream(self) -> str:
        return f"{self.prefix.upper()}_CHAT"

    @property
    def usage_stream(self) -> str:
        return f"{self.prefix.upper()}_USAGE"

    @property
    def audit_stream(self) -> str:
        return f"{self.prefix.upper()}_AUDIT"

    @property
    def inspect_stream(self) -> str:
        """Presets and the checks kept with chats (events/inspector.py)."""
        return f"{self.prefix.upper()}_INSPECT"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.prefix.upper()}_DLQ"

    def stream_configs(self) -> list[StreamConfig]:
        """The event store: file storage, kept forever (they are the source of truth)."""
        return [
            self._stream(self.chat_stream, self.chat_all_subjects),
            self._stream(self.usage_stream, self.usage_all_subjects),
            self._stream(self.audit_stream, self.audit_all_subjects),
            self._stream(self.inspect_stream, f"{self.prefix}.inspect.>"),
            self._stream(self.dead_letter_stream, f"{self.prefix}.dlq.>", max_age=30 * DAY_SEC),
        ]

    def _stream(self, name: str, subjects: str, max_age: float | None = None) -> StreamConfig:
        return StreamConfig(
            name=name,
            subjects=[subjects],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=max_age,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_sec,
            allow_direct=True,
        )

    # --- durable consumers ----------------------------------------------------------------
    @property
    def sessions_consumer(self) -> str:
        return "sessions-projector"

    @property
    def usage_consumer(self) -> str:
        return "usage-recorder"

    # --- key/value buckets ----------------------------------------------------------------
    @property
    def registry_bucket(self) -> str:
        return f"{self.prefix}_model_registry"

    @property
    def health_bucket(self) -> str:
        return f"{self.prefix}_model_health"

    @property
    def idempotency_bucket(self) -> str:
        return f"{self.prefix}_idempotency"

    @property
    def chain_heads_bucket(self) -> str:
        """The head (newest hash and sequence) of every subject's hash chain, keyed by subject."""
        return f"{self.prefix}_chain_heads"

    def chain_heads_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.chain_heads_bucket,
            history=1,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )

    def registry_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.registry_bucket,
            history=5,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )

    def health_bucket_config(self, ttl_sec: float) -> KeyValueConfig:
        """Entries expire after the TTL: a stopped health service never leaves stale 'healthy'."""
        return KeyValueConfig(
            bucket=self.health_bucket,
            history=1,
            ttl=ttl_sec,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )


def model_key(served_model_name: str) -> str:
    """KV key of a model in the registry and health buckets (names may hold ':' or spaces)."""
    return base64.urlsafe_b64encode(served_model_name.encode()).decode().rstrip("=")


def model_name_from_key(key: str) -> str:
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()


def _token(value: str) -> str:
    """A value made safe as one subject token (no dots, wildcards or spaces)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value) or "_"
