"""What reading a chat from the stream's leader costs on one node: the two reads of the gateway's
`load_session` (a chat subject's first and last event) as direct gets (any replica answers, the
old way) and through the STREAM.MSG.GET API (the leader answers, chat/aggregate.py), in
alternating rounds on one embedded NATS with file storage and 5,000 chats of 4 events."""

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from bench.report import write_section
from tests.support.backends import start_backends

STREAM = "BENCH_CHAT"
CHATS = 5_000
ROUNDS = 10
PER_ROUND = 300  # reads of one kind in a round


def subject(chat: int) -> str:
    return f"bench.chat.u{chat % 100}.s{chat}"


async def fill(js: JetStreamContext) -> None:
    await js.add_stream(
        StreamConfig(
            name=STREAM, subjects=["bench.chat.>"], storage=StorageType.FILE, allow_direct=True
        )
    )
    for first in range(0, CHATS, 500):
        await asyncio.gather(
            *(js.publish(subject(c), b"x" * 300) for c in range(first, first + 500) for _ in "1234")
        )


async def read_chat(js: JetStreamContext, chat: int, direct: bool) -> float:
    start = time.perf_counter()
    await js.get_msg(STREAM, seq=1, subject=subject(chat), next=True, direct=direct)
    await js.get_last_msg(STREAM, subject(chat), direct=direct)
    return (time.perf_counter() - start) * 1000


async def measure(url: str) -> dict[bool, list[float]]:
    client = await nats.connect(url)
    js = client.jetstream()
    await fill(js)
    samples: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(ROUNDS):
        for direct in (True, False) if round_ % 2 == 0 else (False, True):
            for n in range(PER_ROUND):
                chat = (round_ * PER_ROUND + n * 7) % CHATS
                samples[direct].append(await read_chat(js, chat, direct))
    await client.close()
    return samples


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder, start_backends(Path(folder)) as backends:
        samples = asyncio.run(measure(backends.nats_url))
    rows = []
    for direct, label in ((True, "direct gets (before)"), (False, "from the leader (now)")):
        ordered = sorted(samples[direct])
        p50, p99 = statistics.median(ordered), ordered[int(len(ordered) * 0.99)]
        rows.append(f"| {label} | {len(ordered):,} | {p50:.2f} ms | {p99:.2f} ms |")
    ratio = statistics.median(samples[False]) / statistics.median(samples[True])
    body = (
        f"{__doc__}\n\n| the chat's two reads | n | p50 | p99 |\n|---|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\np50 ratio leader / direct: **{ratio:.2f}**. Load average (1 min) before/after:"
        f" {load_before:.1f}/{os.getloadavg()[0]:.1f} on 2 shared cores (noisy; the ratio is"
        " from alternating rounds of the same run).\n"
    )
    print(body)
    write_section("leader-reads", "python -m bench leader_reads", body)


if __name__ == "__main__":
    main()
