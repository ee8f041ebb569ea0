"""Writes to the model registry bucket (a JetStream KV bucket shared by every gateway replica and
the health service; `ModelCatalog` follows it to serve reads).

Seeding from CORTEX_MODELS_FILE at start: the file is the declared baseline, run-time edits persist.
- a model of the file never seen in the bucket is created;
- a model that came from the file (`origin: file`) is brought in line with the file (a changed
  base_url in the file takes effect on restart) and removed when the file no longer lists it;
- a model registered or edited by an admin (`origin: admin`) is never overwritten by the file;
- a model an admin removed stays removed (its delete marker is kept), even if the file lists it:
  re-register it with POST /admin/upstreams to bring it back.
Every write is conditional on the revision read, so replicas starting together do not race.
"""

import logging
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import ValidationError

from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import model_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredEntry:
    upstream: Upstream | None  # None: removed (delete marker) or unreadable
    revision: int
    removed: bool


def encode(upstream: Upstream) -> bytes:
    return upstream.model_dump_json().encode()


def decode(value: bytes | None) -> Upstream | None:
    if not value:
        return None
    try:
        return Upstream.model_validate_json(value)
    except ValidationError as error:
        log.warning("ignoring an invalid registry entry: %s", error)
        return None


async def read_bucket(kv: KeyValue) -> dict[str, StoredEntry]:
    """Latest entry of every key, delete markers included (they record an admin's removal)."""
    watcher = await kv.watchall()
    found: dict[str, StoredEntry] = {}
    try:
        async for entry in watcher:
            if entry is None:  # end of the current content
                break
            removed = entry.operation in (KV_DEL, KV_PURGE)
            upstream = None if removed else decode(entry.value)
            found[entry.key] = StoredEntry(upstream, entry.revision or 0, removed)
    finally:
        await watcher.stop()
    return found


@dataclass(frozen=True)
class Seeded:
    """A change seeding made (for the audit trail): `before` None when added, `after` None when
    removed. Writes are conditional, so of replicas starting together only one reports it."""

    before: Upstream | None
    after: Upstream | None


async def seed_from_file(kv: KeyValue, declared: list[Upstream]) -> list[Seeded]:
    baseline = {u.served_model_name: u.model_copy(update={"origin": "file"}) for u in declared}
    stored = await read_bucket(kv)
    changes = []
    for name, upstream in baseline.items():
        key = model_key(name)
        current = stored.get(key)
        if current is None:
            before, last = None, 0
        elif current.upstream is None or current.removed:
            continue
        elif current.upstream.origin == "file" and current.upstream != upstream:
            before, last = current.upstream, current.revision
        else:
            continue
        if await _write_if_unchanged(kv, key, upstream, last=last):
            changes.append(Seeded(before, upstream))
    for key, current in stored.items():
        previous = current.upstream
        if (
            previous is not None
            and previous.origin == "file"
            and previous.served_model_name not in baseline
        ):
            try:
                await kv.delete(key, last=current.revision)
                changes.append(Seeded(previous, None))
            except KeyWrongLastSequenceError:
                log.info("registry: %s changed while seeding; left as is", key)
    return changes


async def _write_if_unchanged(kv: KeyValue, key: str, upstream: Upstream, last: int) -> bool:
    try:
        await kv.update(key, encode(upstream), last=last)
        return True
    except KeyWrongLastSequenceError:
        # Another replica seeded it, or an admin edited it meanwhile: theirs stands.
        log.info("registry: %s changed while seeding; left as is", upstream.served_model_name)
        return False


async def put(kv: KeyValue, upstream: Upstream) -> int:
    return await kv.put(model_key(upstream.served_model_name), encode(upstream))


async def remove(kv: KeyValue, name: str) -> int:
    """Leaves a delete marker (followers see the removal; a restart does not resurrect it).

    Returns the marker's revision."""
    key = model_key(name)
    await kv.delete(key)
    try:
        entry = await kv.get(key)
    except KeyNotFoundError as gone:
        return int(gone.entry.revision) if gone.entry is not None else 0
    return int(entry.revision or 0)  # re-registered meanwhile
