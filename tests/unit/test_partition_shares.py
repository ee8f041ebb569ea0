"""How partitions are shared out among the live replicas (cortex_runtime.partitions)."""

import pytest

from cortex_runtime.partitions import fair_share

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("partitions", [1, 5, 6, 12, 64])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
def test_shares_add_up_and_differ_by_at_most_one(partitions: int, replicas: int) -> None:
    members = [f"replica-{n}" for n in range(replicas)]
    shares = [fair_share(partitions, members, me) for me in members]
    assert sum(shares) == partitions
    assert max(shares) - min(shares) <= 1


def test_every_replica_computes_the_same_shares_whatever_order_it_sees() -> None:
    seen_by_one = ["b", "c", "a"]
    seen_by_other = ["c", "a", "b"]
    assert [fair_share(7, seen_by_one, m) for m in "abc"] == [
        fair_share(7, seen_by_other, m) for m in "abc"
    ]


def test_a_replica_not_yet_seen_as_a_member_takes_nothing() -> None:
    assert fair_share(6, ["a", "b"], "c") == 0
