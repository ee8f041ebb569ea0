"""Backup and restore of a large event store: BACKUP_EVENTS (1,000,000) chat-sized events with
the headers the runtime gives them (message id, hash chain), one in 1,000 deleted; the time
of `backup` from one embedded NATS and of `restore` into an empty one."""

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from bench.report import write_section
from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from cortex_runtime.backup import backup, restore

EVENTS = int(os.environ.get("BACKUP_EVENTS", 1_000_000))
WINDOW = 1000  # publishes in flight while filling the store
PAYLOAD = b'{"type":"message_added","content":"' + b"x" * 240 + b'"}'


async def fill(js: JetStreamContext) -> None:
    await js.add_stream(StreamConfig(name="BENCH_CHAT", subjects=["bench.chat.>"]))
    pending: list[asyncio.Future[object]] = []
    for n in range(EVENTS):
        headers = {"Nats-Msg-Id": str(uuid.uuid4()), "Cortex-Prev-Hash": "a" * 64}
        headers["Cortex-Hash"] = "b" * 64
        subject = f"bench.chat.u{n % 500}.s{n % 5000}"
        pending.append(asyncio.ensure_future(js.publish(subject, PAYLOAD, headers=headers)))
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    for seq in range(1000, EVENTS, 1000):
        await js.delete_msg("BENCH_CHAT", seq)


async def measure(folder: Path) -> str:
    source = EmbeddedNats(folder / "source", free_port())
    target = EmbeddedNats(folder / "target", free_port())
    source.start(log_file=folder / "source.log")
    target.start(log_file=folder / "target.log")
    try:
        from_client = await nats.connect(source.url)
        to_client = await nats.connect(target.url)
        started = time.monotonic()
        await fill(from_client.jetstream(timeout=60))
        filled = time.monotonic() - started
        file = folder / "store.backup"
        started = time.monotonic()
        made = await backup(from_client.jetstream(timeout=60), file)
        backed_up = time.monotonic() - started
        started = time.monotonic()
        loaded = await restore(to_client.jetstream(timeout=60), file)
        restored = time.monotonic() - started
        state = (await to_client.jetstream().stream_info("BENCH_CHAT")).state
        original = (await from_client.jetstream().stream_info("BENCH_CHAT")).state
        await from_client.close()
        await to_client.close()
    finally:
        source.stop()
        target.stop()
    assert loaded == made and state.last_seq == original.last_seq
    assert state.messages == original.messages
    size = file.stat().st_size / 2**20
    return (
        f"{made.messages:,} events (chat-sized, with message id and hash-chain headers; one in"
        f" 1,000 deleted, so the restore fills and deletes {EVENTS // 1000 - 1} gaps) in one"
        f" stream. Filling the store took {filled:.0f} s.\n\n"
        "| step | seconds | events/s |\n|---|---|---|\n"
        f"| `cortex-admin backup` (file {size:.0f} MiB, gzip'd JSON lines) | {backed_up:.1f}"
        f" | {made.messages / backed_up:,.0f} |\n"
        f"| `cortex-admin restore` into an empty NATS | {restored:.1f}"
        f" | {made.messages / restored:,.0f} |\n\n"
        f"Same last sequence ({state.last_seq:,}) and message count after the restore.\n"
    )


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        body = asyncio.run(measure(Path(folder)))
    body += (
        f"\nLoad average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}"
        " (a 2-core machine shared with other work).\n"
    )
    print(body)
    write_section("backup", "python -m bench backup", body)
