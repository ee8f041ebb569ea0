"""Every NATS name in one place: streams, subjects, KV buckets, durable consumers, query subjects.

All names derive from a prefix (`CORTEX_NATS_PREFIX`), so several installations or test runs can
share one NATS server without seeing each other's data.
"""

import base64
import zlib
from dataclasses import dataclass

from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

DAY_SEC = 86_400.0


def chat_partition_of(session_id: str, partitions: int) -> int:
    """Deterministic for a session id, the same in every process (CRC-32, not `hash`)."""
    return zlib.crc32(session_id.encode()) % partitions


@dataclass(frozen=True)
class Topology:
    prefix: str = "cortex"
    replicas: int = 1
    duplicate_window_sec: float = 3600.0
    # Chat sessions are spread over this many partitions, each projected by one replica at a
    # time (docs/scaling.md). Fixed per deployment: it is part of every chat subject.
    chat_partitions: int = 1

    # --- subjects -------------------------------------------------------------------------
    def chat_subject(self, user_id: str, session_id: str) -> str:
        """One subject per session, under its owner, so both can be read with a direct get.

        With several partitions the session's partition comes first,
        `<prefix>.chat.<partition>.<user>.<session>`: a partition's consumer then filters on a
        literal prefix, which JetStream matches within that partition's subjects only (a filter
        with the partition last, `*.*.<n>`, made the server walk every subject for every
        message it delivered: docs/scaling.md)."""
        if self.chat_partitions == 1:
            return f"{self.prefix}.chat.{user_id}.{session_id}"
        return f"{self.prefix}.chat.{self.chat_partition(session_id)}.{user_id}.{session_id}"

    @property
    def partitioned(self) -> bool:
        return self.chat_partitions > 1

    def chat_partition(self, session_id: str) -> int:
        return chat_partition_of(session_id, self.chat_partitions)

    def chat_partition_subjects(self, partition: int) -> str:
        if self.chat_partitions == 1:
            return self.chat_all_subjects
        return f"{self.prefix}.chat.{partition}.>"

    @property
    def chat_stray_subjects(self) -> str | None:
        """With partitions, chat subjects of the one-partition layout (four tokens) belong to no
        partition: the sessions service dead-letters them."""
        return None if self.chat_partitions == 1 else f"{self.prefix}.chat.*.*"

    def chat_stray_subjects_of(self, user_id: str, session_id: str = "*") -> list[str]:
        """With partitions, a user's (or one chat's) subjects of the one-partition layout: strays,
        dead-lettered, but holding what the user wrote all the same (an erasure takes them)."""
        return [f"{self.prefix}.chat.{user_id}.{session_id}"] if self.partitioned else []

    @staticmethod
    def chat_session_of(subject: str) -> str:
        """The session id of a chat subject: its last token in either layout."""
        return subject.rsplit(".", 1)[-1]

    def chat_user_subjects(self, user_id: str) -> str:
        if self.chat_partitions == 1:
            return f"{self.prefix}.chat.{user_id}.>"
        return f"{self.prefix}.chat.*.{user_id}.*"

    @property
    def chat_all_subjects(self) -> str:
        return f"{self.prefix}.chat.>"

    def compare_subject(self, user_id: str, comparison_id: str) -> str:
        """One subject per comparison (side-by-side compare), under its owner."""
        return f"{self.prefix}.compare.{user_id}.{comparison_id}"

    def compare_user_subjects(self, user_id: str) -> str:
        return f"{self.prefix}.compare.{user_id}.*"

    @property
    def compare_all_subjects(self) -> str:
        return f"{self.prefix}.compare.>"

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

    @property
    def erasure_subject(self) -> str:
        """Erasures of chat content (events.erasure), outside every chat subject."""
        return f"{self.prefix}.erasure.chats"

    @property
    def erasure_all_subjects(self) -> str:
        return f"{self.prefix}.erasure.>"

    def bench_subject(self, run_id: str, kind: str) -> str:
        """One subject per run and kind (requested, started, samples, level, engine, cancel,
        finished): a run is read with `bench_run_subjects`."""
        return f"{self.prefix}.bench.{_token(run_id)}.{kind}"

    def bench_run_subjects(self, run_id: str) -> str:
        return f"{self.prefix}.bench.{_token(run_id)}.>"

    @property
    def bench_all_subjects(self) -> str:
        return f"{self.prefix}.bench.>"

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
    def sessions_comparisons_list_subject(self) -> str:
        return f"{self.prefix}.q.comparisons.list"

    @property
    def sessions_comparisons_votes_subject(self) -> str:
        return f"{self.prefix}.q.comparisons.votes"

    @property
    def usage_query_subject(self) -> str:
        return f"{self.prefix}.q.usage.query"

    @property
    def sessions_stale_subject(self) -> str:
        return f"{self.prefix}.q.sessions.stale"

    @property
    def health_refresh_subject(self) -> str:
        return f"{self.prefix}.q.health.refresh"

    @property
    def bench_runs_subject(self) -> str:
        return f"{self.prefix}.q.bench.runs"

    @property
    def bench_run_subject(self) -> str:
        return f"{self.prefix}.q.bench.run"

    def verify_subject(self, service: str) -> str:
        """Asks a projection service to verify its tables against a replay (docs/audit.md)."""
        return f"{self.prefix}.q.{service}.verify"

    def completion_stop_subject(self, completion_id: str) -> str:
        """Asks the gateway replica that relays a completion to stop it (request/reply)."""
        return f"{self.prefix}.q.completions.stop.{_token(completion_id)}"

    # --- streams --------------------------------------------------------------------------
    @property
    def chat_stream(self) -> str:
        return f"{self.prefix.upper()}_CHAT"

    @property
    def compare_stream(self) -> str:
        return f"{self.prefix.upper()}_COMPARE"

    @property
    def usage_stream(self) -> str:
        return f"{self.prefix.upper()}_USAGE"

    @property
    def audit_stream(self) -> str:
        return f"{self.prefix.upper()}_AUDIT"

    @property
    def bench_stream(self) -> str:
        return f"{self.prefix.upper()}_BENCH"

    @property
    def inspect_stream(self) -> str:
        """Presets and the checks kept with chats (events/inspector.py)."""
        return f"{self.prefix.upper()}_INSPECT"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.prefix.upper()}_DLQ"

    @property
    def erasure_stream(self) -> str:
        return f"{self.prefix.upper()}_ERASURE"

    def stream_configs(self) -> list[StreamConfig]:
        """The event store: file storage, kept forever (they are the source of truth)."""
        return [
            self._stream(self.chat_stream, self.chat_all_subjects),
            self._stream(self.usage_stream, self.usage_all_subjects),
            self._stream(self.audit_stream, self.audit_all_subjects),
            self._stream(self.bench_stream, self.bench_all_subjects),
            self._stream(self.compare_stream, self.compare_all_subjects),
            self._stream(self.inspect_stream, f"{self.prefix}.inspect.>"),
            self._stream(self.dead_letter_stream, f"{self.prefix}.dlq.>", max_age=30 * DAY_SEC),
            self._stream(self.erasure_stream, self.erasure_all_subjects),
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

    def sessions_partition_consumer(self, partition: int) -> str:
        """The durable consumer of one partition (the single one keeps its old name)."""
        if self.chat_partitions == 1:
            return self.sessions_consumer
        return f"{self.sessions_consumer}-p{partition}"

    @property
    def sessions_strays_consumer(self) -> str:
        return f"{self.sessions_consumer}-strays"

    @property
    def sessions_partition_consumers(self) -> list[str]:
        return [self.sessions_partition_consumer(p) for p in range(self.chat_partitions)]

    @property
    def comparisons_consumer(self) -> str:
        return "comparisons-projector"

    @property
    def usage_consumer(self) -> str:
        return "usage-recorder"

    @property
    def erasure_consumer(self) -> str:
        return "sessions-erasure"

    @property
    def bench_consumer(self) -> str:
        """Run requests, shared by the bench replicas: each run is picked up by one of them."""
        return "bench-runner"

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

    @property
    def bench_limits_bucket(self) -> str:
        """The admin's guard rails for benchmark runs (one key, `limits`)."""
        return f"{self.prefix}_bench_limits"

    @property
    def bench_live_bucket(self) -> str:
        """Per run: its short-lived credential (written by the gateway) and its progress (by the
        replica running it); entries expire, nothing here is history."""
        return f"{self.prefix}_bench_live"

    def bench_limits_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.bench_limits_bucket,
            history=5,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )

    def bench_live_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.bench_live_bucket,
            history=1,
            ttl=DAY_SEC,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )

    @property
    def leases_bucket(self) -> str:
        """Which replica owns which partition, and which replicas are alive (runtime partitions)."""
        return f"{self.prefix}_partition_leases"

    def chain_heads_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.chain_heads_bucket,
            history=1,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )

    @property
    def retention_bucket(self) -> str:
        """The retention policy (a view of its audit events) and the scheduler's last run."""
        return f"{self.prefix}_retention"

    def retention_bucket_config(self) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.retention_bucket,
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
