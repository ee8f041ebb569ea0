"""Backup and restore keep every stream as it was: the same messages at the same sequences
(deleted ones leave the same gaps, at the start, in the middle and at the end), the same
headers, KV buckets with the same revisions; a restore refuses a NATS that is not empty and a
file that was cut short."""

import gzip
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StreamConfig

from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from cortex_runtime.backup import BackupError, backup, restore
from tests.support.backends import server_dir

pytestmark = pytest.mark.integration


@pytest.fixture
def folder() -> Iterator[Path]:
    with server_dir() as path:
        yield path


async def nats_of(folder: Path, name: str) -> tuple[EmbeddedNats, NatsClient]:
    server = EmbeddedNats(folder / name, free_port())
    server.start(log_file=folder / f"{name}.log")
    return server, await nats.connect(server.url)


@pytest.fixture
async def two_nats(folder: Path) -> AsyncIterator[tuple[JetStreamContext, JetStreamContext]]:
    source, source_client = await nats_of(folder, "source")
    target, target_client = await nats_of(folder, "target")
    try:
        yield source_client.jetstream(), target_client.jetstream()
    finally:
        await source_client.close()
        await target_client.close()
        source.stop()
        target.stop()


async def fill(js: JetStreamContext) -> None:
    await js.add_stream(StreamConfig(name="EVENTS", subjects=["ev.>"], deny_delete=False))
    for n in range(1, 13):
        await js.publish(
            f"ev.chat.{n % 3}", f"event {n}".encode(), headers={"Nats-Msg-Id": f"id-{n}"}
        )
    for seq in (1, 2, 5, 9, 12):  # gaps at the start, in the middle and at the end
        await js.delete_msg("EVENTS", seq)
    kv = await js.create_key_value(KeyValueConfig(bucket="heads", history=1))
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("a", b"3")  # the older revision of "a" is gone
    await kv.delete("b")


async def contents(js: JetStreamContext, stream: str) -> list[tuple[int, str, bytes, dict]]:
    state = (await js.stream_info(stream)).state
    found = []
    for seq in range(int(state.first_seq or 1), int(state.last_seq or 0) + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:
            continue  # a deleted sequence
        assert msg.seq is not None
        found.append((msg.seq, msg.subject, msg.data or b"", msg.headers or {}))
    return found


async def test_a_restored_store_is_the_same_store(
    two_nats: tuple[JetStreamContext, JetStreamContext], folder: Path
) -> None:
    source, target = two_nats
    await fill(source)

    made = await backup(source, folder / "store.backup")
    loaded = await restore(target, folder / "store.backup")

    assert made == loaded
    assert made.streams == 2
    for stream in ("EVENTS", "KV_heads"):
        before, after = await source.stream_info(stream), await target.stream_info(stream)
        assert (after.state.first_seq, after.state.last_seq, after.state.messages) == (
            before.state.first_seq,
            before.state.last_seq,
            before.state.messages,
        )
        assert await contents(target, stream) == await contents(source, stream)
        assert after.config.deny_delete == before.config.deny_delete
        assert after.config.duplicate_window == before.config.duplicate_window
    kv = await target.key_value("heads")
    entry = await kv.get("a")
    assert (entry.value, entry.revision) == (
        b"3",
        (await (await source.key_value("heads")).get("a")).revision,
    )
    next_source = await source.publish("ev.chat.new", b"next")
    next_target = await target.publish("ev.chat.new", b"next")
    assert next_target.seq == next_source.seq  # new writes continue where the original did


async def test_a_restore_refuses_a_nats_that_holds_streams(
    two_nats: tuple[JetStreamContext, JetStreamContext], folder: Path
) -> None:
    source, target = two_nats
    await fill(source)
    await backup(source, folder / "store.backup")
    await target.add_stream(StreamConfig(name="OTHER", subjects=["other.>"]))

    with pytest.raises(BackupError, match="not empty"):
        await restore(target, folder / "store.backup")


async def test_a_restore_refuses_a_file_cut_short(
    two_nats: tuple[JetStreamContext, JetStreamContext], folder: Path
) -> None:
    source, target = two_nats
    await fill(source)
    await backup(source, folder / "store.backup")
    with gzip.open(folder / "store.backup", "rt") as whole:
        lines = whole.readlines()
    with gzip.open(folder / "cut.backup", "wt") as cut:
        cut.writelines(lines[:-3])

    with pytest.raises(BackupError, match="truncated"):
        await restore(target, folder / "cut.backup")
