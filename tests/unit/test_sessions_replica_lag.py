"""The read replica's lag logic with a fake clock: a query waits for the replica to replay up to
the primary's position, and gives up (the primary answers) once the bound passes."""

import pytest

from cortex_sessions.replica import REPLICA_LAG_WAIT_SEC, replica_reached

pytestmark = pytest.mark.unit


class Replay:
    """A replica that replays `rate` WAL bytes per second of the fake clock, from `start`."""

    def __init__(self, start: int, rate: float) -> None:
        self.now = 0.0
        self.start = start
        self.rate = rate
        self.asked = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, pause: float) -> None:
        self.now += pause

    async def position(self) -> int:
        self.asked += 1
        return self.start + int(self.rate * self.now)


async def test_a_replica_already_past_the_target_answers_at_once() -> None:
    replay = Replay(start=5_000, rate=0)
    assert await replica_reached(4_000, replay.position, 0.5, replay.clock, replay.sleep)
    assert replay.now == 0 and replay.asked == 1


async def test_a_replica_that_catches_up_within_the_bound_is_waited_for() -> None:
    # 1,000 bytes behind, replaying 10,000 bytes/s: there after 0.1 s of the fake clock
    replay = Replay(start=0, rate=10_000)
    assert await replica_reached(1_000, replay.position, 0.5, replay.clock, replay.sleep)
    assert 0.1 <= replay.now <= 0.1 + 0.05  # polled at most one pause (50 ms) late


async def test_a_replica_lagging_past_the_bound_gives_way_to_the_primary() -> None:
    # 1 MB behind at 10,000 bytes/s: 100 s away, so the wait ends at the bound
    replay = Replay(start=0, rate=10_000)
    assert not await replica_reached(
        1_000_000, replay.position, REPLICA_LAG_WAIT_SEC, replay.clock, replay.sleep
    )
    assert replay.now <= REPLICA_LAG_WAIT_SEC


async def test_a_stopped_replica_is_polled_with_growing_pauses() -> None:
    replay = Replay(start=0, rate=0)
    assert not await replica_reached(1, replay.position, 0.5, replay.clock, replay.sleep)
    assert replay.asked < 20  # 2 ms doubling to 50 ms: about a dozen looks in 0.5 s
