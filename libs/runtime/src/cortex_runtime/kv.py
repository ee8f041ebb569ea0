"""JetStream KV helpers: create-or-update a bucket; follow a bucket's content as it changes."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

log = logging.getLogger(__name__)

KV_DUPLICATE_WINDOW_SEC = 120.0  # nats-py's default for KV streams


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Idempotent and safe for racing replicas: creates the bucket, or brings an existing one's
    TTL and history in line with `config` (a changed HEALTH_CHECK_TTL_SEC takes effect)."""
    try:
        kv = await js.key_value(config.bucket)
    except BucketNotFoundError:
        try:
            return await js.create_key_value(config)
        except BadRequestError:
            log.debug("bucket %s created concurrently", config.bucket)
            kv = await js.key_value(config.bucket)
    stream = f"KV_{config.bucket}"
    current = (await js.stream_info(stream)).config
    max_age = config.ttl or 0.0
    if (current.max_age or 0.0) != max_age or current.max_msgs_per_subject != config.history:
        window = min(KV_DUPLICATE_WINDOW_SEC, max_age) if max_age else KV_DUPLICATE_WINDOW_SEC
        await js.update_stream(
            current.evolve(
                max_age=max_age,
                max_msgs_per_subject=config.history,
                duplicate_window=min(window, current.duplicate_window or window),
            )
        )
        log.info("bucket %s: ttl=%ss history=%s", config.bucket, max_age, config.history)
    return kv


@dataclass(frozen=True)
class KvEntry:
    key: str
    value: bytes | None  # None: deleted or purged
    revision: int


class BucketFollower(Protocol):
    def replace_all(self, entries: list[KvEntry]) -> None:
        """The bucket's whole current content (after a (re)start of the watch)."""

    def apply(self, entry: KvEntry) -> None:
        """One change, in bucket order."""


async def follow_bucket(
    js: JetStreamContext, bucket: str, follower: BucketFollower, retry_sec: float = 1.0
) -> None:
    """Run until cancelled: hand the follower the bucket's content, then every change.

    Waits for a missing bucket, and restarts the watch after an error; each (re)start begins with
    `replace_all`, so changes missed in between (deletes included) are never left behind.
    """
    while True:
        try:
            kv = await js.key_value(bucket)
            watcher = await kv.watchall()
        except BucketNotFoundError:
            await asyncio.sleep(retry_sec)
            continue
        except Exception as error:  # NATS not reachable: retry, the caller keeps serving
            log.warning("watching bucket %s failed: %s", bucket, error)
            await asyncio.sleep(retry_sec)
            continue
        try:
            await _consume(watcher, follower)
        except asyncio.CancelledError:
            await _stop_quietly(watcher)
            raise
        except Exception:
            log.exception("watch of bucket %s stopped; restarting", bucket)
            await _stop_quietly(watcher)
            await asyncio.sleep(retry_sec)


async def _consume(watcher: KeyValue.KeyWatcher, follower: BucketFollower) -> None:
    snapshot: dict[str, KvEntry] | None = {}
    async for update in watcher:
        if update is None:  # end of the initial content
            if snapshot is not None:
                follower.replace_all([e for e in snapshot.values() if e.value is not None])
                snapshot = None
            continue
        deleted = update.operation in (KV_DEL, KV_PURGE)
        entry = KvEntry(update.key, None if deleted else update.value, update.revision or 0)
        if snapshot is not None:
            snapshot[entry.key] = entry
        else:
            follower.apply(entry)


async def _stop_quietly(watcher: KeyValue.KeyWatcher) -> None:
    try:
        await watcher.stop()
    except Exception:  # the connection may already be gone
        log.debug("stopping a KV watcher failed", exc_info=True)
